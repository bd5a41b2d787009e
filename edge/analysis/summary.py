"""An analysis as a readable summary and as JSON (``edge-music analyze FILE [--json]``)."""

from __future__ import annotations

import json
from typing import Any

from edge.analysis.analyse import Analysis
from edge.context.context import NOTE_NAMES

BARS_PER_LINE = 4
"""Bars of chords on one line of the summary."""


def pitch_name(pitch: int) -> str:
    """MIDI pitch as a name with its octave (60 = C4)."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def to_dict(a: Analysis) -> dict[str, Any]:
    """Everything as plain data: seconds and bars/beats counted from 1, as a listener counts them."""
    score = a.score
    tempo_changes = [
        {"bar": _bar_of(a, t.beat) + 1, "beat": _r(t.beat), "seconds": _r(t.seconds), "bpm": _r(t.bpm)}
        for t in score.tempos
    ]
    audio = a.audio
    return {
        "file": score.path,
        "format": {"type": score.source, "midi_type": score.midi_type, "tracks": score.tracks,
                   "ticks_per_beat": score.ticks_per_beat} if audio is None else
                  {"type": "audio", "format": audio.format, "sample_rate": audio.source_rate,
                   "channels": audio.channels, "seconds": audio.seconds},
        "estimated": list(audio.estimated) if audio else [],
        "duration_seconds": _r(score.duration),
        "tempo": {
            "bpm": _r(score.tempos[0].bpm),
            "mean_bpm": _r(score.end * 60.0 / score.duration if score.duration > 0 else score.tempos[0].bpm),
            "declared": score.tempo_declared,
            "unit": "quarter notes a minute",
            "changes": tempo_changes,
        },
        "meter": {
            "time_signature": str(score.meters[0]),
            "changes": [{"bar": _bar_of(a, m.beat) + 1, "time_signature": str(m)} for m in score.meters],
        },
        "bars": len(a.bars),
        "beats": [_r(b.seconds) for b in a.beats],
        "downbeats": [_r(b.seconds) for b in a.bars],
        "key": None if a.key is None else {
            "tonic": NOTE_NAMES[a.key.key.tonic],
            "mode": a.key.key.mode,
            "name": a.key.key.name,
            "correlation": _r(a.key.correlation),
            "runner_up": a.key.runner_up.name,
            "margin": _r(a.key.margin),
            "declared": a.declared_key.name if a.declared_key else None,
        },
        "melody": {
            "source": a.melody.source,
            "notes": [[n.pitch, _r(n.start_s), _r(n.end_s)] for n in a.melody.notes],
        },
        "chords": [
            {"bar": b.bar + 1, "beat": b.index + 1, "seconds": _r(b.seconds),
             "chord": c.symbol if c else None, "numeral": c.numeral(a.key.key) if c and a.key else None}
            for b, c in zip(a.beats, a.chords, strict=True)
        ],
        "sections": [
            {"label": s.label, "first_bar": s.first_bar + 1, "last_bar": s.last_bar + 1,
             "seconds": _r(s.seconds)}
            for s in a.sections
        ],
        "emotion": {"valence": a.emotion.valence, "arousal": a.emotion.arousal, "mood": a.emotion.mood,
                    "terms": a.emotion.terms},
        "loudness_db_per_beat": list(audio.beat_loudness_db) if audio else None,
        "transcribed_notes": audio.transcribed_notes if audio else None,
        "notes": list(a.notes),
    }  # fmt: skip


def to_json(a: Analysis) -> str:
    """The analysis as one JSON document (and a newline)."""
    return json.dumps(to_dict(a), ensure_ascii=False) + "\n"


_FORMATS = {"musicxml": "MusicXML score", "abc": "ABC tune"}


def to_text(a: Analysis) -> str:
    """A readable summary, a few dozen lines for a song."""
    score = a.score
    minutes, seconds = divmod(round(score.duration), 60)
    parts = [p for p in score.parts if not p.drums]
    drums = " + drums" if len(parts) < len(score.parts) else ""
    tracks = f"{score.tracks} track{'s' * (score.tracks != 1)}"
    audio = a.audio
    if audio is None:
        what = _FORMATS.get(score.source) or f"MIDI type {score.midi_type}, {tracks}"
        what += f", {len(parts)} pitched part{'s' * (len(parts) != 1)}{drums}"
    else:
        channels = f"{audio.channels} channel{'s' * (audio.channels != 1)}"
        what = f"{audio.format}, {audio.source_rate} Hz, {channels}"
    lines = [f"{score.path}: {what}, {len(a.bars)} bars, {minutes}:{seconds:02d}"]
    tempo = f"{score.tempos[0].bpm:.4g} BPM"
    if audio is not None:
        steady = audio.steady_tempo
        tempo += " (estimated, steady)" if steady else " (estimated; the beats drift, a tempo a bar)"
    elif not score.tempo_declared:
        tempo += " (the file sets none; MIDI's default)" if score.source == "midi" else " (none marked)"
    changes = [f"bar {_bar_of(a, t.beat) + 1} {t.bpm:.4g}" for t in score.tempos[1:]]
    if changes:
        tempo += f", then {', '.join(changes[:8])}{', ...' if len(changes) > 8 else ''}"
        tempo += f" ({len(changes)} change{'s' * (len(changes) != 1)})"
    lines.append(f"tempo     {tempo}")
    meter = str(score.meters[0])
    meter_changes = [f"{m} from bar {_bar_of(a, m.beat) + 1}" for m in score.meters[1:]]
    if meter_changes:
        meter += ", then " + ", ".join(meter_changes[:8]) + (", ..." if len(meter_changes) > 8 else "")
    lines.append(f"meter     {meter}; {len(a.beats)} beats, {len(a.bars)} downbeats")
    if a.key is None:
        key = "none (nothing pitched plays)"
    else:
        key = f"{a.key.key.name} (correlation {a.key.correlation:.2f}; next {a.key.runner_up.name})"
    if a.declared_key:
        key += f"; the file declares {a.declared_key.name}"
    lines.append(f"key       {key}")
    if a.melody.notes:
        low = min(n.pitch for n in a.melody.notes)
        high = max(n.pitch for n in a.melody.notes)
        lines.append(
            f"melody    {a.melody.source}: {len(a.melody.notes)} note{'s' * (len(a.melody.notes) != 1)}, "
            f"{pitch_name(low)}-{pitch_name(high)}"
        )
    else:
        lines.append(f"melody    none ({a.melody.source})")
    lines.append(
        f"sections  {' '.join(f'{s.label}({s.first_bar + 1}-{s.last_bar + 1})' for s in a.sections)}"
    )
    if audio is not None and audio.beat_loudness_db:
        levels = [v for v in audio.beat_loudness_db if v > -120]
        if levels:
            lines.append(
                f"loudness  {min(levels):.1f} to {max(levels):.1f} dBFS a beat (RMS), "
                f"median {sorted(levels)[len(levels) // 2]:.1f}"
            )
        lines.append(f"estimated {', '.join(audio.estimated)} ({audio.transcribed_notes} notes transcribed)")
    e = a.emotion
    lines.append(f"emotion   {e.mood} (valence {e.valence:+.2f}, arousal {e.arousal:+.2f})")
    lines.append("chords    (one per beat; '-' holds the chord before)")
    lines.extend(_chord_lines(a))
    lines.extend(f"note      {note}" for note in a.notes)
    return "\n".join(lines) + "\n"


def _chord_lines(a: Analysis) -> list[str]:
    cells = []
    previous = ""
    for bar in a.bars:
        symbols = []
        for chord in a.chords[bar.first_beat : bar.first_beat + bar.beats]:
            symbol = chord.symbol if chord else "N"
            symbols.append("-" if symbol == previous else symbol)
            previous = symbol
        cells.append(" ".join(f"{s:<5}" for s in symbols).rstrip())
    width = max((len(c) for c in cells), default=0)
    lines = []
    for start in range(0, len(cells), BARS_PER_LINE):
        row = " | ".join(c.ljust(width) for c in cells[start : start + BARS_PER_LINE])
        lines.append(f"  {start + 1:>4}  | {row.rstrip()}")
    return lines


def _bar_of(a: Analysis, beat: float) -> int:
    """Index of the bar holding ``beat`` (quarter notes)."""
    low, high = 0, len(a.bars) - 1
    while low < high:
        mid = (low + high + 1) // 2
        if a.bars[mid].start <= beat + 1e-9:
            low = mid
        else:
            high = mid - 1
    return low


def _r(value: float) -> float:
    return round(float(value), 3)
