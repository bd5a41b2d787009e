"""Training pieces from music21 corpus folders and MIDI folders, in the builder's interchange format.

Training-only: this module imports music21 (the ``train`` extra); the daemon never imports it.

One piece (one line of ``pieces.jsonl``)::

    {"id": "bach/bwv66.6", "source": "bach", "tag": "bach", "split": "train",
     "key": 6, "mode": "minor",
     "bars": [{"meter": "4/4", "melody": [[step, pitch, length], ...],
               "bass": [[step, pitch, length], ...], "chords": [[root_pc, kind] | null, ...]}, ...]}

Steps are sixteenth notes from the bar line. Melody and bass are monophonic (one onset per
step, notes cut at the next onset). ``chords`` holds one entry per beat. See docs/data.md.

This module reads one file or score into pieces; the parts' roles, key and pickups come from
``score.py``, a bar's notes from ``notes.py``, its chords from ``chords.py``. The build over
every source (file lists, cache, workers, split, report) is ``build.py``.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from edge.music.chords import Chord, classify, melody_chord
from edge.training.chords import fill_chords, symbol_chord
from edge.training.notes import merge_ties, monophonic, note_events, quantize, snap
from edge.training.score import Skip, key_of, measures_of, pickup_shifts, roles_of

METERS: dict[str, tuple[int, int]] = {"4/4": (16, 4), "3/4": (12, 3), "2/4": (8, 2), "6/8": (12, 2)}
"""Meter -> (sixteenths per bar, beats per bar). 6/8 has two dotted-quarter beats."""
METER_ALIASES = {"2/2": "4/4"}
"""Cut time (ABC ``M:C|``, most reels) has the same sixteen sixteenths as 4/4 and is written as 4/4."""

MIDI_SUFFIXES = {".mid", ".midi"}


# --------------------------------------------------------------------------------------------------
# music21 set-up


def configure_music21(cache_dir: Path | str) -> None:
    """Point music21's scratch directory (parse pickles, temp files) at ``<cache>/music21``.

    Set in memory on the environment singleton only: ~/.music21rc is neither read for this
    key's value nor written.
    """
    from music21 import environment

    scratch = Path(cache_dir).resolve() / "music21"
    scratch.mkdir(parents=True, exist_ok=True)
    environment.Environment()["directoryScratch"] = str(scratch)
    warnings.filterwarnings("ignore", module=r"music21\..*")


# --------------------------------------------------------------------------------------------------
# One file


@dataclass(frozen=True)
class FileTask:
    """One source file to extract."""

    source: str
    tag: str
    path: str
    id_base: str
    mode: str
    """'tune' (one melodic line, ABC), 'satb' (chorale parts by name) or 'auto'."""


# --------------------------------------------------------------------------------------------------
# Pieces


def _meter_of(ts) -> str | None:
    name = ts.ratioString if ts is not None else "4/4"
    name = METER_ALIASES.get(name, name)
    return name if name in METERS else None


def extract_score(score, mode: str) -> tuple[dict, Counter]:
    """One music21 Score as {"key", "mode", "bars"}, and the count of bars skipped per meter.

    Raises Skip when nothing usable is left.
    """
    from music21 import harmony, meter

    roles = roles_of(score, mode)
    ref = measures_of(roles.melody)
    if not ref:  # music21 leaves some short ABC tunes without bars: make them from the meter
        try:
            score = score.makeNotation()
        except Exception as e:
            raise Skip("no notes", f"no measures ({type(e).__name__})") from e
        roles = roles_of(score, mode)
        ref = measures_of(roles.melody)
        if not ref:
            raise Skip("no notes", "no measures")
    try:
        tonic, kmode = key_of(score, roles.melody if mode == "tune" else None)
    except Exception as e:  # an empty score cannot be analysed
        raise Skip("no notes", f"key analysis failed: {type(e).__name__}") from e

    def aligned(part) -> list:
        ms = measures_of(part)
        if len(ms) == len(ref):
            return ms
        by_offset = {round(float(m.offset), 6): m for m in ms}
        return [by_offset.get(round(float(m.offset), 6)) for m in ref]

    bass_ms = aligned(roles.bass) if roles.bass is not None and not roles.single else None
    harm_ms = [aligned(p) for p in roles.harmony] if roles.harmony and not roles.single else []

    # Time signature per measure (carried forward) and the bars we keep.
    meters: list[str | None] = []
    bar_qls: list[float | None] = []
    skipped_meters: Counter = Counter()
    ts = None
    for m in ref:
        found = m.getElementsByClass(meter.TimeSignature)
        if found:
            here, dur = found[0], float(m.duration.quarterLength)
            short_mark = (
                ts is not None
                and dur < float(ts.barDuration.quarterLength) - 1e-6
                and (
                    abs(float(here.barDuration.quarterLength) - dur) < 1e-6
                    or here.denominator not in (1, 2, 4, 8, 16, 32)
                )
            )
            # music21's ABC reader gives a short bar (a section's pickup) a meter of its own
            # length ("1/4" inside a 2/4 reel, "1/6" for a lone triplet note): the piece's
            # meter carries on through it.
            if not short_mark:
                ts = here
        name = _meter_of(ts)
        meters.append(name)
        bar_qls.append(METERS[name][0] / 4 if name else None)
        if name is None:
            skipped_meters[ts.ratioString] += 1
    shifts = pickup_shifts(ref, bar_qls)

    # Chord symbols (ABC "Am"): used when at least half the bars with notes carry one.
    symbols: list[tuple[int, int, Chord]] = []
    bars_with_symbols = 0

    bars: list[dict] = []
    beat_weights: list[list[list[float]]] = []  # per kept bar, per beat: 12 weights (melody-based)
    harm_chords: list[list[Chord]] = []
    for i, m in enumerate(ref):
        name = meters[i]
        if name is None:
            continue
        steps, beats = METERS[name]
        beat_len = steps // beats
        shift = shifts[i]
        mel_q = quantize(merge_ties(note_events(m, shift)), steps)
        melody = monophonic(mel_q, highest=True)
        if roles.single:
            tops = {n[0]: n[1] for n in melody}
            under = [(s, e, p) for s, e, p in mel_q if p < tops.get(s, -1)]
            bass = monophonic(under, highest=False)
        elif bass_ms is not None and bass_ms[i] is not None:
            bass = monophonic(quantize(merge_ties(note_events(bass_ms[i], shift)), steps), highest=False)
        else:
            bass = []
        bar_index = len(bars)
        if mode == "tune":
            found = False
            for cs in m.flatten().getElementsByClass(harmony.ChordSymbol):
                step = min(steps - 1, max(0, snap((float(cs.offset) + shift) * 4)))
                symbols.append((bar_index, step, symbol_chord(cs, tonic, kmode)))
                found = True
            bars_with_symbols += found
        # Per-beat weights.
        if roles.harmony:
            notes = list(mel_q) if roles.single else []
            for hm in harm_ms:
                if hm[i] is not None:
                    notes += quantize(merge_ties(note_events(hm[i], shift)), steps)
            chords = []
            for b in range(beats):
                b0, b1 = b * beat_len, (b + 1) * beat_len
                w = [0.0] * 12
                at_onset = []
                for s, e, p in notes:
                    ov = min(e, b1) - max(s, b0)
                    if ov > 0:
                        w[p % 12] += ov
                    if s <= b0 < e:
                        w[p % 12] += beat_len  # what sounds on the beat counts double
                        at_onset.append(p)
                sounding = at_onset or [p for s, e, p in notes if s < b1 and e > b0]
                bass_pc = min(sounding) % 12 if sounding else None
                chords.append(classify(w, bass_pc, tonic, kmode))
            harm_chords.append(chords)
        else:
            bw = []
            for b in range(beats):
                b0, b1 = b * beat_len, (b + 1) * beat_len
                w = [0.0] * 12
                for s, length, p in ((n[0], n[2], n[1]) for n in melody):
                    ov = min(s + length, b1) - max(s, b0)
                    if ov > 0:
                        w[p % 12] += ov
                bw.append(w)
            beat_weights.append(bw)
        bars.append({"meter": name, "melody": melody, "bass": bass, "chords": []})

    if not bars:
        raise Skip(f"unsupported meter {skipped_meters.most_common(1)[0][0]}")
    if not any(b["melody"] or b["bass"] for b in bars):
        raise Skip("no notes", "no notes in supported bars")

    # Chords per beat.
    if roles.harmony:
        for bar, chords in zip(bars, harm_chords, strict=True):
            bar["chords"] = chords
    elif symbols and bars_with_symbols * 2 >= sum(1 for b in bars if b["melody"]):
        symbols.sort(key=lambda t: (t[0], t[1]))
        for bi, bar in enumerate(bars):
            steps, beats = METERS[bar["meter"]]
            beat_len = steps // beats
            chords = []
            for b in range(beats):
                pos = (bi, b * beat_len)
                before = [c for (sb, ss, c) in symbols if (sb, ss) <= pos]
                within = [c for (sb, ss, c) in symbols if sb == bi and pos[1] < ss < pos[1] + beat_len]
                chords.append(before[-1] if before else within[0] if within else None)
            bar["chords"] = chords
    else:
        flat = [w for bw in beat_weights for w in bw]
        prev: Chord = None
        k = 0
        for bar, bw in zip(bars, beat_weights, strict=True):
            chords = []
            for w in bw:
                around = [0.0] * 12
                for j in (k - 1, k + 1):
                    if 0 <= j < len(flat):
                        around = [a + x for a, x in zip(around, flat[j], strict=True)]
                c = melody_chord(w, around, prev, tonic, kmode)
                chords.append(c)
                if c is not None:
                    prev = c
                k += 1
            bar["chords"] = chords
    fill_chords(bars, tonic, kmode)
    return {"key": tonic, "mode": kmode, "bars": bars}, skipped_meters


def parse_file(path: str, mode: str):
    """music21's parse of a file: a Score, or an Opus for multi-tune ABC files."""
    from music21 import converter, corpus

    if Path(path).suffix.lower() in MIDI_SUFFIXES:
        return converter.parse(path)
    return corpus.parse(path)


def extract_file(task: FileTask) -> dict:
    """All pieces of one file: {"pieces": [...], "skipped": [[id, reason, detail]], "bars_skipped": {}}."""
    from music21 import stream

    pieces: list[dict] = []
    skipped: list[list[str]] = []
    bars_skipped: Counter = Counter()
    try:
        parsed = parse_file(task.path, task.mode)
    except Exception as e:
        detail = f"{type(e).__name__}: {e}".splitlines()[0][:200] if str(e) else type(e).__name__
        return {"pieces": [], "skipped": [[task.id_base, "parse error", detail]], "bars_skipped": {}}
    if isinstance(parsed, stream.Opus):
        scores = list(parsed.scores)
        numbers = [str(s.metadata.number).strip() if s.metadata and s.metadata.number else "" for s in scores]
        counts = Counter(numbers)
        ids = [
            f"{task.id_base}#{n}" if n and counts[n] == 1 else f"{task.id_base}#i{i + 1}"
            for i, n in enumerate(numbers)
        ]
    else:
        scores, ids = [parsed], [task.id_base]
    for pid, score in zip(ids, scores, strict=True):
        try:
            data, skipped_meters = extract_score(score, task.mode)
        except Skip as s:
            skipped.append([pid, s.reason, s.detail])
            continue
        except Exception as e:
            skipped.append([pid, "extract error", f"{type(e).__name__}: {e}".splitlines()[0][:200]])
            continue
        bars_skipped.update(skipped_meters)
        pieces.append({"id": pid, "source": task.source, "tag": task.tag, **data})
    return {"pieces": pieces, "skipped": skipped, "bars_skipped": dict(sorted(bars_skipped.items()))}
