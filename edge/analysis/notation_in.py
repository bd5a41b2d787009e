"""A MusicXML or ABC score read into the analysis ``Score`` through music21 (the ``scores`` extra).

music21 is imported here, lazily, and only when such a file is analysed: the daemon and the MIDI
path never load it. Without it, one line names the extra to install (``AnalysisError``, exit 2).

What is kept: every pitched note (a chord's notes one by one, tied notes joined), its velocity
(80 when the score gives none), each part's name and MIDI program, the metronome marks as the
tempo map (120 BPM when the score has none), the time and key signatures. A pickup bar is padded
at its start to a full bar, so bar lines fall where the score has them. Repeats are played as
written once (not expanded); grace notes and unpitched percussion are left out.
"""

from __future__ import annotations

import bisect
from pathlib import Path

from edge.analysis.midi_in import MAX_BEATS, MAX_BPM, MAX_EVENTS, MIN_BPM, AnalysisError
from edge.analysis.score import KeySignature, Meter, Note, Part, Score, Tempo

SUFFIXES = {".musicxml": "MusicXML", ".xml": "MusicXML", ".mxl": "MusicXML", ".abc": "ABC notation"}
"""File suffixes read through music21, and what to call them."""
MAX_SCORE_BYTES = 4 << 20
"""The largest score read (4 MiB: an uncompressed MusicXML file is 10-50 times its MIDI)."""
EXTRA = "pip install 'edge-music[scores]'"
"""What to run when music21 is missing."""
DEFAULT_VELOCITY = 80
"""Velocity of a note whose score gives no dynamics."""


def is_notation(path: str | Path) -> bool:
    """Whether ``path`` names a MusicXML or ABC file (by its suffix)."""
    return Path(path).suffix.lower() in SUFFIXES


def read_notation(path: str | Path) -> Score:
    """Read ``path`` through music21; raises AnalysisError (one line naming the file) when it cannot."""
    name = str(path).encode("utf-8", "backslashreplace").decode("utf-8")
    what = SUFFIXES.get(Path(path).suffix.lower(), "a score")
    try:
        size = Path(path).stat().st_size
    except (OSError, ValueError) as exc:
        raise AnalysisError(f"{name}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    if size == 0:
        raise AnalysisError(f"{name}: empty file (0 bytes), not {what}")
    if size > MAX_SCORE_BYTES:
        raise AnalysisError(f"{name}: larger than the {MAX_SCORE_BYTES >> 20} MiB the analysis reads")
    try:
        import music21
    except ImportError:
        raise AnalysisError(f"{name}: reading {what} needs music21: {EXTRA}") from None
    try:
        parsed = music21.converter.parse(str(path), format="abc" if what.startswith("ABC") else "musicxml")
        if isinstance(parsed, music21.stream.Opus):  # an ABC book: its first tune
            parsed = parsed.scores[0] if parsed.scores else parsed
        return score_from_music21(parsed, name)
    except AnalysisError:
        raise
    except Exception as exc:  # music21 raises many kinds on bad input; all mean the same here
        reason = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise AnalysisError(f"{name}: cannot read it as {what}: {reason}") from None


def score_from_music21(parsed, name: str) -> Score:
    """A music21 stream (Score, Part or Opus tune) as the analysis ``Score``."""
    import music21

    parts = list(parsed.parts) if hasattr(parsed, "parts") and len(parsed.parts) else [parsed]
    shift = _pickup_padding(parts[0])
    raw: list[tuple[float, float, int, int, int]] = []  # (start, end, pitch, velocity, part)
    names: list[Part] = []
    for index, part in enumerate(parts):
        instrument = part.getInstrument(returnDefault=True)
        program = instrument.midiProgram if instrument.midiProgram is not None else 0
        channel = index if index < 9 else index + 1
        names.append(Part((getattr(part, "partName", None) or "").strip(), index, channel % 16, program))
        for element in part.stripTies(matchByPitch=True).flatten().notes:
            length = float(element.duration.quarterLength)
            if length <= 0 or not hasattr(element, "pitches"):
                continue  # grace notes
            start = float(element.offset) + shift
            velocity = element.volume.velocity if element.volume.velocity else DEFAULT_VELOCITY
            for pitch in element.pitches:
                raw.append((start, start + length, int(pitch.midi), int(velocity), index))
            if len(raw) > MAX_EVENTS // 2:
                raise AnalysisError(f"{name}: more than {MAX_EVENTS // 2} notes, more than analysed")
    if not raw:
        raise AnalysisError(f"{name}: empty score: no notes")
    end = max(r[1] for r in raw)
    if end > MAX_BEATS:
        raise AnalysisError(f"{name}: longer than {MAX_BEATS} beats, more than the analysis takes")
    marks = list(parsed.recurse().getElementsByClass(music21.tempo.MetronomeMark))
    tempos = _tempo_map(parsed, name, shift)
    starts = [t.beat for t in tempos]

    def seconds(beat: float) -> float:
        tempo = tempos[max(0, bisect.bisect_right(starts, beat) - 1)]
        return tempo.seconds + (beat - tempo.beat) * 60.0 / tempo.bpm

    notes = tuple(
        Note(pitch, velocity, start, stop, seconds(start), seconds(stop), part)
        for start, stop, pitch, velocity, part in sorted(raw, key=lambda r: (r[0], r[2], r[1], r[4]))
    )
    return Score(
        path=name,
        midi_type=1,
        tracks=len(parts),
        ticks_per_beat=0,
        parts=tuple(names),
        notes=notes,
        tempos=tempos,
        meters=_meters(parts[0], shift),
        key_signatures=_keys(parts[0], shift),
        end=end,
        tempo_declared=bool(marks),
        source="musicxml" if name.lower().endswith(("xml", ".mxl")) else "abc",
    )


def _pickup_padding(part) -> float:
    """Quarter notes missing from a pickup bar (its rests before the first note), else 0."""
    measures = list(part.getElementsByClass("Measure"))
    if not measures:
        return 0.0
    return float(measures[0].paddingLeft or 0.0)


def _tempo_map(parsed, name: str, shift: float) -> tuple[Tempo, ...]:
    tempos: list[Tempo] = []
    for start, _, mark in parsed.metronomeMarkBoundaries():
        bpm = float(mark.getQuarterBPM() or 120.0)
        if not MIN_BPM <= bpm <= MAX_BPM:
            raise AnalysisError(f"{name}: tempo {bpm:.3g} BPM is outside {MIN_BPM:g}-{MAX_BPM:g} BPM")
        beat = 0.0 if not tempos else float(start) + shift
        if tempos and tempos[-1].bpm == bpm:
            continue
        seconds = 0.0 if not tempos else tempos[-1].seconds + (beat - tempos[-1].beat) * 60.0 / tempos[-1].bpm
        tempos.append(Tempo(beat, seconds, bpm))
    return tuple(tempos) or (Tempo(0.0, 0.0, 120.0),)


def _meters(part, shift: float) -> tuple[Meter, ...]:
    import music21

    meters: list[Meter] = []
    for sig in part.flatten().getElementsByClass(music21.meter.TimeSignature):
        numerator, denominator = int(sig.numerator), int(sig.denominator)
        if not (1 <= numerator <= 64 and denominator in (1, 2, 4, 8, 16, 32)):
            continue
        beat = 0.0 if not meters else float(sig.offset) + shift
        if meters and (meters[-1].numerator, meters[-1].denominator) == (numerator, denominator):
            continue
        if meters and beat == meters[-1].beat:
            meters[-1] = Meter(beat, numerator, denominator)
        else:
            meters.append(Meter(beat, numerator, denominator))
    return tuple(meters) or (Meter(0.0, 4, 4),)


def _keys(part, shift: float) -> tuple[KeySignature, ...]:
    import music21

    out = []
    for sig in part.flatten().getElementsByClass(music21.key.KeySignature):
        key = sig if isinstance(sig, music21.key.Key) else sig.asKey("major")
        tonic = key.tonic.name.replace("-", "b")
        beat = 0.0 if not out else float(sig.offset) + shift
        out.append(KeySignature(beat, tonic + ("m" if key.mode == "minor" else "")))
    return tuple(out)
