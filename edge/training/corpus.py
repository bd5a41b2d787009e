"""Training pieces from music21 corpus folders and MIDI folders, in the builder's interchange format.

Training-only: this module imports music21 (the ``train`` extra); the daemon never imports it.

One piece (one line of ``pieces.jsonl``)::

    {"id": "bach/bwv66.6", "source": "bach", "tag": "bach", "split": "train",
     "key": 6, "mode": "minor",
     "bars": [{"meter": "4/4", "melody": [[step, pitch, length], ...],
               "bass": [[step, pitch, length], ...], "chords": [[root_pc, kind] | null, ...]}, ...]}

Steps are sixteenth notes from the bar line. Melody and bass are monophonic (one onset per
step, notes cut at the next onset). ``chords`` holds one entry per beat. See docs/data.md.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from edge.training.sources import Source

CODE_VERSION = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
"""Changes whenever this file changes, so cached per-file results are rebuilt."""

METERS: dict[str, tuple[int, int]] = {"4/4": (16, 4), "3/4": (12, 3), "2/4": (8, 2), "6/8": (12, 2)}
"""Meter -> (sixteenths per bar, beats per bar). 6/8 has two dotted-quarter beats."""
METER_ALIASES = {"2/2": "4/4"}
"""Cut time (ABC ``M:C|``, most reels) has the same sixteen sixteenths as 4/4 and is written as 4/4."""

CHORD_KINDS: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "sus4": (0, 5, 7),
    "dom7": (0, 4, 7, 10),
    "min7": (0, 3, 7, 10),
    "maj7": (0, 4, 7, 11),
}
_KIND_COST = {"maj": 0.0, "min": 0.0, "dim": 0.03, "sus4": 0.03, "aug": 0.06, "dom7": 0.04, "min7": 0.04}
_KIND_COST["maj7"] = 0.05
_KIND_ORDER = ("maj", "min", "dom7", "min7", "dim", "sus4", "maj7", "aug")
_SYMBOL_KINDS = {
    "major": "maj",
    "minor": "min",
    "diminished": "dim",
    "augmented": "aug",
    "suspended-fourth": "sus4",
    "dominant-seventh": "dom7",
    "minor-seventh": "min7",
    "major-seventh": "maj7",
}
_PRESENT = 0.04  # share of a beat's weight for a pitch class to count as sounding
_STRONG = 0.12  # share a seventh or a suspended fourth needs before a 7th/sus4 chord is considered

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10, 11)  # natural minor plus the leading tone
# Diatonic triads in the order preferred when coverage ties (degree offset, kind).
_DIATONIC = {
    "major": ((0, "maj"), (7, "maj"), (5, "maj"), (9, "min"), (2, "min"), (4, "min"), (11, "dim")),
    "minor": (
        (0, "min"),
        (7, "maj"),
        (5, "min"),
        (10, "maj"),
        (3, "maj"),
        (8, "maj"),
        (7, "min"),
        (2, "dim"),
    ),
}

BACH_EXCLUDED = {"bwv846": "not a chorale (Well-Tempered Clavier prelude)"}
KRN_EXCLUDED = "Humdrum encoding: 'Rights to all derivative electronic formats reserved'"
NUMBERED_COLLECTIONS = {"oneills1850"}
"""ABC collections whose X: numbers are catalogue numbers: one tune kept per number."""

SCORE_SUFFIXES = {".abc", ".mxl", ".xml", ".musicxml", ".krn", ".mid", ".midi"}
MIDI_SUFFIXES = {".mid", ".midi"}

Chord = tuple[int, str] | None


class Skip(Exception):
    """A piece that is left out; ``reason`` is a short category, ``detail`` the specifics."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


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
# Files of a source


@dataclass(frozen=True)
class FileTask:
    """One source file to extract."""

    source: str
    tag: str
    path: str
    id_base: str
    mode: str
    """'tune' (one melodic line, ABC), 'satb' (chorale parts by name) or 'auto'."""


def source_files(src: Source, limit: int | None = None) -> tuple[list[FileTask], list[tuple[str, str]]]:
    """The files of a source in a fixed order, and the (id, reason) of files left out."""
    folder = src.folder()
    tasks: list[FileTask] = []
    excluded: list[tuple[str, str]] = []
    paths = sorted(
        (p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.relative_to(folder).as_posix()
    )
    label = src.path if src.kind == "music21" else src.name
    for p in paths:
        rel = p.relative_to(folder)
        suffix = p.suffix.lower()
        if src.kind == "midi" and suffix not in MIDI_SUFFIXES:
            continue
        if src.kind == "music21" and suffix not in SCORE_SUFFIXES:
            continue
        id_base = f"{label}/{rel.with_suffix('').as_posix()}"
        if src.kind == "music21" and suffix == ".krn":
            excluded.append((id_base, KRN_EXCLUDED))
            continue
        if src.kind == "music21" and Path(src.path).name == "bach":
            if len(rel.parts) > 1 or not p.name.startswith("bwv"):
                continue  # choraleAnalyses/ (Roman-numeral text files), not music
            if p.stem in BACH_EXCLUDED:
                excluded.append((id_base, BACH_EXCLUDED[p.stem]))
                continue
        mode = "tune" if suffix == ".abc" else "satb" if Path(src.path).name == "bach" else "auto"
        tasks.append(FileTask(src.name, src.tag, str(p), id_base, mode))
    if limit is not None:
        tasks = tasks[:limit]
    return tasks, excluded


# --------------------------------------------------------------------------------------------------
# Chords


def _q(x: float) -> int:
    """Round to the sixteenth grid (halves up)."""
    return math.floor(x + 0.5 + 1e-9)


def scale_of(tonic: int, mode: str) -> set[int]:
    """Pitch classes of the key (minor: natural minor plus the leading tone)."""
    return {(tonic + i) % 12 for i in (MAJOR_SCALE if mode == "major" else MINOR_SCALE)}


def classify(weights: list[float], bass_pc: int | None, tonic: int, mode: str) -> Chord:
    """The chord (root, kind) that best explains a weighted pitch-class set; None when silent.

    Template matching over 12 roots x 8 kinds: weight inside the chord minus weight outside,
    small costs for rarer kinds (triads win when in doubt), a bonus when the root is in the bass
    and a tie-breaking nudge for chords diatonic to the key. A seventh or a suspended fourth must
    carry a real share of the beat (not a passing note) for a 7th or sus4 chord to be considered.
    """
    total = sum(weights)
    if total <= 0:
        return None
    w = [x / total for x in weights]
    scale = scale_of(tonic, mode)
    best: tuple | None = None
    for root in range(12):
        if w[root] < _PRESENT:
            continue
        for kind, ivs in CHORD_KINDS.items():
            pcs = [(root + i) % 12 for i in ivs]
            third, fifth = w[pcs[1]], w[pcs[2]]
            if kind == "sus4":
                if third < _STRONG or w[(root + 3) % 12] >= _PRESENT or w[(root + 4) % 12] >= _PRESENT:
                    continue
            elif third < _PRESENT:
                continue
            if kind in ("dim", "aug") and fifth < _PRESENT:
                continue
            if len(pcs) == 4 and w[pcs[3]] < _STRONG:
                continue
            inside = sum(w[p] for p in set(pcs))
            score = 2 * inside - 1 - _KIND_COST[kind]
            if fifth < _PRESENT:
                score -= 0.05
            if bass_pc == root:
                score += 0.1
            if all(p in scale for p in pcs):
                score += 0.02
            cand = (round(score, 9), -_KIND_ORDER.index(kind), -((root - tonic) % 12), root, kind)
            if best is None or cand > best:
                best = cand
    if best is not None:
        return (best[3], best[4])
    # A single pitch class or an open fifth: the strongest pitch class (the bass when sounding).
    root = bass_pc if bass_pc is not None and w[bass_pc] >= _PRESENT else max(range(12), key=lambda p: w[p])
    if (root + 4) % 12 in scale:
        return (root, "maj")
    return (root, "min") if (root + 3) % 12 in scale else (root, "maj")


def melody_chord(beat: list[float], around: list[float], prev: Chord, tonic: int, mode: str) -> Chord:
    """The key's diatonic triad covering most of a beat's melody duration; None when silent.

    Ties keep the previous beat's chord when it is among them, then go to the triad covering
    most of the neighbouring beats, then to the order I, V, IV, vi, ii, iii, vii (minor: i, V,
    iv, VII, III, VI, v, ii).
    """
    if sum(beat) <= 0:
        return None
    cands = [((tonic + off) % 12, kind) for off, kind in _DIATONIC[mode]]

    def cover(weights: list[float], c: tuple[int, str]) -> float:
        return round(sum(weights[(c[0] + i) % 12] for i in CHORD_KINDS[c[1]]), 9)

    top = max(cover(beat, c) for c in cands)
    tied = [c for c in cands if cover(beat, c) == top]
    if len(tied) > 1 and prev in tied:
        return prev
    top2 = max(cover(around, c) for c in tied)
    return next(c for c in tied if cover(around, c) == top2)


def symbol_chord(cs, tonic: int, mode: str) -> Chord:
    """A music21 ChordSymbol as (root, kind); None for 'N.C.'."""
    from music21 import harmony

    if isinstance(cs, harmony.NoChord) or not cs.pitches:
        return None
    root = cs.root().pitchClass
    kind = _SYMBOL_KINDS.get(cs.chordKind)
    if kind is not None:
        return (root, kind)
    weights = [0.0] * 12
    for p in cs.pitches:
        weights[p.pitchClass] += 1.0
    return classify(weights, root, tonic, mode)


# --------------------------------------------------------------------------------------------------
# Notes of one bar


@dataclass
class _Raw:
    start: float  # sixteenths from the bar line (after a pickup's shift)
    end: float
    pitch: int


def _events(measure, shift: float) -> list[tuple[float, float, int, str | None]]:
    """(start, end, pitch, tie type) of a measure's sounding notes in sixteenths; grace notes dropped."""
    from music21 import chord, harmony, note

    out = []
    for el in measure.flatten().notes:
        if isinstance(el, harmony.Harmony):
            continue
        ql = float(el.duration.quarterLength)
        if el.duration.isGrace or ql <= 0:
            continue
        start = (float(el.offset) + shift) * 4
        end = start + ql * 4
        if isinstance(el, note.Note):
            out.append((start, end, el.pitch.midi, el.tie.type if el.tie else None))
        elif isinstance(el, chord.Chord):
            for n in el.notes:
                tie = n.tie or el.tie
                out.append((start, end, n.pitch.midi, tie.type if tie else None))
    out.sort(key=lambda e: (e[0], e[2]))
    return out


def _merge_ties(events: list[tuple[float, float, int, str | None]]) -> list[_Raw]:
    """Join tie continuations onto the note they continue in this bar; a continuation that
    opens the bar (its note began in an earlier bar) becomes a note of its own."""
    kept: list[_Raw] = []
    for start, end, pitch, tie in events:
        if tie in ("continue", "stop"):
            prev = next((r for r in kept if r.pitch == pitch and abs(r.end - start) < 1e-6), None)
            if prev is not None:
                prev.end = max(prev.end, end)
                continue
        kept.append(_Raw(start, end, pitch))
    return kept


def _quantize(raw: list[_Raw], steps: int) -> list[tuple[int, int, int]]:
    """(start, end, pitch) on the sixteenth grid, clipped to the bar; zero-length notes dropped."""
    out = []
    for r in raw:
        s, e = max(0, _q(r.start)), min(steps, _q(r.end))
        if s < steps and e > s:
            out.append((s, e, r.pitch))
    return out


def _monophonic(notes: list[tuple[int, int, int]], highest: bool) -> list[list[int]]:
    """One note per onset step (the highest, or the lowest for a bass), each cut at the next onset."""
    by_step: dict[int, tuple[int, int, int]] = {}
    for s, e, p in notes:
        cur = by_step.get(s)
        if cur is None or (p > cur[2] if highest else p < cur[2]) or (p == cur[2] and e > cur[1]):
            by_step[s] = (s, e, p)
    starts = sorted(by_step)
    out = []
    for i, s in enumerate(starts):
        _, e, p = by_step[s]
        if i + 1 < len(starts):
            e = min(e, starts[i + 1])
        out.append([s, p, e - s])
    return out


# --------------------------------------------------------------------------------------------------
# Pieces


def _meter_of(ts) -> str | None:
    name = ts.ratioString if ts is not None else "4/4"
    name = METER_ALIASES.get(name, name)
    return name if name in METERS else None


VOICE_NAMES = ("soprano", "alto", "tenor", "bass")


def _part_name(part) -> str:
    """First word of a part's name, lower case ('soprano 1' -> 'soprano')."""
    name = part.partName or (part.id if isinstance(part.id, str) else "") or ""
    words = name.lower().split()
    return words[0] if words else ""


def _pitched_parts(score) -> list:
    from music21 import chord, note

    parts = []
    for part in score.parts:
        pitches = [
            p.midi
            for el in part.recurse().notes
            if isinstance(el, (note.Note, chord.Chord))
            for p in el.pitches
        ]
        if pitches:
            parts.append((sum(pitches) / len(pitches), part))
    return parts


@dataclass
class _Roles:
    melody: object
    bass: object | None
    harmony: list
    """Parts whose notes make the chords; empty: chords from the melody (or chord symbols)."""
    single: bool = False
    """One polyphonic part: the bass is what sounds under the melody in it."""


def _roles(score, mode: str) -> _Roles:
    parts = list(score.parts)
    if not parts:
        raise Skip("no notes", "no parts")
    if mode == "tune":  # the tune is the voice with the most notes (an ABC V:2 may hold only rests)
        return _Roles(max(parts, key=lambda p: len(p.recurse().notes)), None, [])
    names = [_part_name(p) for p in parts]
    sop = next((i for i, n in enumerate(names) if n == "soprano"), None)
    bas = next((i for i, n in enumerate(names) if n == "bass" and (sop is None or i > sop)), None)
    if sop is not None and bas is not None:
        voices = [p for p, n in zip(parts, names, strict=True) if n in VOICE_NAMES]
        return _Roles(parts[sop], parts[bas], voices)
    if mode == "satb" and len(parts) >= 2:
        return _Roles(parts[0], parts[-1], parts)
    pitched = _pitched_parts(score)
    if not pitched:
        raise Skip("no notes", "no pitched parts")
    if len(pitched) == 1:
        part = pitched[0][1]
        return _Roles(part, part, [part], single=True)
    hi = max(pitched, key=lambda mp: mp[0])[1]
    lo = min(pitched, key=lambda mp: mp[0])[1]
    return _Roles(hi, lo, [p for _, p in pitched])


def _measures(part) -> list:
    from music21 import stream

    return list(part.getElementsByClass(stream.Measure))


def _third_mode(k) -> str:
    """'major' or 'minor' for any music21 Key, modes mapped by their third (dorian -> minor)."""
    if k.mode in ("major", "minor"):
        return k.mode
    return "minor" if (k.pitchFromDegree(3).pitchClass - k.tonic.pitchClass) % 12 == 3 else "major"


def _key_of(score, tune=None) -> tuple[int, str]:
    """(tonic pitch class, 'major' | 'minor') of a piece.

    music21's ``analyze('key')`` (Aarden-Essen key profiles), computed without the 23
    alternative Key objects that cost three quarters of the extraction time. For a folk tune
    (``tune``: its melody part) the written key (ABC ``K:``, modes mapped by their third) is
    used instead when the tune ends on its tonic: on the folk collections the profile often
    names the relative or subdominant key of a tune that is plainly in its written key.
    """
    from music21 import analysis, chord, key, note

    if tune is not None:
        written = next(iter(tune.recurse().getElementsByClass(key.Key)), None)
        notes = tune.recurse().notes
        last = [n for n in notes if isinstance(n, (note.Note, chord.Chord)) and n.quarterLength]
        if written is not None and last and max(last[-1].pitches).pitchClass == written.tonic.pitchClass:
            return written.tonic.pitchClass, _third_mode(written)
    (tonic, mode, _), _ = analysis.discrete.AardenEssen().process(score)
    return tonic.pitchClass, mode if mode in ("major", "minor") else "major"


def _shifts(measures: list, bar_qls: list[float | None]) -> list[float]:
    """Quarter-note offset of each measure's first beat of notes inside its bar.

    A short measure is a pickup (its notes sit at the end of the bar) when music21 gives it a
    left padding, when it opens the piece, when it opens a section (a repeat sign or a special
    bar line before it), or when it completes the short measure before it (ABC's split bars).
    """
    shifts = [0.0] * len(measures)
    right_aligned = [False] * len(measures)
    for i, m in enumerate(measures):
        bar = bar_qls[i]
        if bar is None:
            continue
        dur = float(m.duration.quarterLength)
        if dur >= bar - 1e-6:
            continue
        pad = float(m.paddingLeft or 0.0)
        pickup = pad > 0
        if not pickup and i == 0:
            pickup = True
        elif not pickup and i + 1 < len(measures):
            prev = measures[i - 1]
            prev_dur = float(prev.duration.quarterLength)
            section = m.leftBarline is not None or prev.rightBarline is not None
            completes = (
                bar_qls[i - 1] == bar
                and prev_dur < bar - 1e-6
                and not right_aligned[i - 1]
                and abs(prev_dur + dur - bar) < 1e-6
            )
            pickup = section or completes
        if pickup:
            shifts[i] = pad if pad > 0 else bar - dur
            right_aligned[i] = True
    return shifts


def extract_score(score, mode: str) -> tuple[dict, Counter]:
    """One music21 Score as {"key", "mode", "bars"}, and the count of bars skipped per meter.

    Raises Skip when nothing usable is left.
    """
    from music21 import harmony, meter

    roles = _roles(score, mode)
    ref = _measures(roles.melody)
    if not ref:  # music21 leaves some short ABC tunes without bars: make them from the meter
        try:
            score = score.makeNotation()
        except Exception as e:
            raise Skip("no notes", f"no measures ({type(e).__name__})") from e
        roles = _roles(score, mode)
        ref = _measures(roles.melody)
        if not ref:
            raise Skip("no notes", "no measures")
    try:
        tonic, kmode = _key_of(score, roles.melody if mode == "tune" else None)
    except Exception as e:  # an empty score cannot be analysed
        raise Skip("no notes", f"key analysis failed: {type(e).__name__}") from e

    def aligned(part) -> list:
        ms = _measures(part)
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
    shifts = _shifts(ref, bar_qls)

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
        mel_q = _quantize(_merge_ties(_events(m, shift)), steps)
        melody = _monophonic(mel_q, highest=True)
        if roles.single:
            tops = {n[0]: n[1] for n in melody}
            under = [(s, e, p) for s, e, p in mel_q if p < tops.get(s, -1)]
            bass = _monophonic(under, highest=False)
        elif bass_ms is not None and bass_ms[i] is not None:
            bass = _monophonic(_quantize(_merge_ties(_events(bass_ms[i], shift)), steps), highest=False)
        else:
            bass = []
        bar_index = len(bars)
        if mode == "tune":
            found = False
            for cs in m.flatten().getElementsByClass(harmony.ChordSymbol):
                step = min(steps - 1, max(0, _q((float(cs.offset) + shift) * 4)))
                symbols.append((bar_index, step, symbol_chord(cs, tonic, kmode)))
                found = True
            bars_with_symbols += found
        # Per-beat weights.
        if roles.harmony:
            notes = list(mel_q) if roles.single else []
            for hm in harm_ms:
                if hm[i] is not None:
                    notes += _quantize(_merge_ties(_events(hm[i], shift)), steps)
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
    _fill_chords(bars, tonic, kmode)
    return {"key": tonic, "mode": kmode, "bars": bars}, skipped_meters


def _fill_chords(bars: list[dict], tonic: int, mode: str) -> None:
    """No beat of a bar with notes is left without a chord: the previous chord carries on
    (else the next one in the bar, else the tonic triad). Bars without notes keep nulls."""
    prev: Chord = None
    for bar in bars:
        chords = bar["chords"]
        if bar["melody"] or bar["bass"]:
            for b, c in enumerate(chords):
                if c is None:
                    nxt = next((x for x in chords[b + 1 :] if x is not None), None)
                    chords[b] = prev or nxt or (tonic, "maj" if mode == "major" else "min")
                prev = chords[b]
        bar["chords"] = [list(c) if c is not None else None for c in chords]


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


# --------------------------------------------------------------------------------------------------
# The build


def split_of(piece_id: str) -> str:
    """'heldout' for a fixed tenth of pieces (sha256 of the id mod 10 == 0), else 'train'."""
    digest = hashlib.sha256(piece_id.encode("utf-8")).digest()
    return "heldout" if int.from_bytes(digest, "big") % 10 == 0 else "train"


def _cache_path(cache_dir: Path, task: FileTask) -> Path:
    content = hashlib.sha256(Path(task.path).read_bytes()).hexdigest()
    key = json.dumps([CODE_VERSION, task.path, content, task.source, task.tag, task.id_base, task.mode])
    return cache_dir / "files" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def _init_worker(cache_dir: str) -> None:
    configure_music21(cache_dir)


def _run_task(task: FileTask) -> tuple[FileTask, dict, float]:
    t0 = time.perf_counter()
    result = extract_file(task)
    return task, result, time.perf_counter() - t0


def _run_all(tasks: list[FileTask], cache_dir: Path, workers: int) -> Iterable[tuple[FileTask, dict, float]]:
    if workers <= 1 or len(tasks) <= 1:
        _init_worker(str(cache_dir))
        for t in tasks:
            yield _run_task(t)
        return
    import multiprocessing as mp

    # Biggest files first so the two workers finish together.
    order = sorted(tasks, key=lambda t: (-os.path.getsize(t.path), t.path))
    with mp.get_context("spawn").Pool(workers, _init_worker, (str(cache_dir),)) as pool:
        yield from pool.imap_unordered(_run_task, order, chunksize=1)


def _write_if_changed(path: Path, data: bytes) -> None:
    """Atomic write; an unchanged file is left alone so caches keyed on its mtime stay valid."""
    if path.exists() and path.read_bytes() == data:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _content_key(piece: dict) -> str:
    return hashlib.sha256(json.dumps(piece["bars"], separators=(",", ":")).encode()).hexdigest()


def build(
    sources: list[Source],
    out_dir: Path,
    cache_dir: Path,
    limit: int | None = None,
    workers: int = 2,
    echo: Callable[[str], None] = print,
) -> dict:
    """Extract every source, write ``pieces.jsonl`` and ``build.json`` under ``out_dir``; the report."""
    from importlib.metadata import version

    t0 = time.perf_counter()
    cache_dir = Path(cache_dir)
    all_tasks: list[FileTask] = []
    excluded: dict[str, list[tuple[str, str]]] = {}
    for src in sources:
        tasks, excl = source_files(src, limit)
        all_tasks += tasks
        excluded[src.name] = excl
    results: dict[str, dict] = {}
    todo: list[tuple[FileTask, Path]] = []
    for t in all_tasks:
        cp = _cache_path(cache_dir, t)
        if cp.exists():
            results[t.path] = json.loads(cp.read_text())
        else:
            todo.append((t, cp))
    echo(f"{len(all_tasks)} files: {len(all_tasks) - len(todo)} cached, {len(todo)} to extract")
    cache_of = {t.path: cp for t, cp in todo}
    (cache_dir / "files").mkdir(parents=True, exist_ok=True)
    for done, (task, result, secs) in enumerate(_run_all([t for t, _ in todo], cache_dir, workers), 1):
        results[task.path] = result
        cp = cache_of[task.path]
        tmp = cp.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, separators=(",", ":")))
        tmp.replace(cp)
        if secs > 20 or done % 200 == 0:
            echo(f"  {done}/{len(todo)} {task.id_base} ({secs:.1f} s)")

    # Assemble, de-duplicate, split.
    pieces: list[dict] = []
    skipped: list[list[str]] = []
    bars_skipped: dict[str, Counter] = {s.name: Counter() for s in sources}
    for t in all_tasks:
        r = results[t.path]
        pieces += r["pieces"]
        skipped += [[t.source, *s] for s in r["skipped"]]
        bars_skipped[t.source].update(r["bars_skipped"])
    pieces.sort(key=lambda p: p["id"])
    numbered: dict[tuple[str, str], str] = {}
    seen: dict[str, str] = {}
    kept: list[dict] = []
    for p in pieces:
        folder, _, number = p["id"].partition("#")
        folder = folder.split("/")[0]
        if folder in NUMBERED_COLLECTIONS and number and not number.startswith("i"):
            first = numbered.setdefault((folder, number), p["id"])
            if first != p["id"]:
                skipped.append([p["source"], p["id"], "duplicate", f"tune number {number} as {first}"])
                continue
        ck = _content_key(p)
        first = seen.setdefault(ck, p["id"])
        if first != p["id"]:
            skipped.append([p["source"], p["id"], "duplicate", f"same notes as {first}"])
            continue
        kept.append(
            {
                "id": p["id"],
                "source": p["source"],
                "tag": p["tag"],
                "split": split_of(p["id"]),
                "key": p["key"],
                "mode": p["mode"],
                "bars": p["bars"],
            }
        )
    skipped.sort()

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    body = "".join(json.dumps(p, separators=(",", ":")) + "\n" for p in kept).encode("utf-8")
    _write_if_changed(out_dir / "pieces.jsonl", body)

    per_source = {}
    for src in sources:
        mine = [p for p in kept if p["source"] == src.name]
        reasons = Counter(s[2] for s in skipped if s[0] == src.name)
        per_source[src.name] = {
            "files": sum(1 for t in all_tasks if t.source == src.name),
            "files_excluded": len(excluded[src.name]),
            "pieces": len(mine),
            "bars": sum(len(p["bars"]) for p in mine),
            "train": sum(1 for p in mine if p["split"] == "train"),
            "heldout": sum(1 for p in mine if p["split"] == "heldout"),
            "skipped": dict(sorted(reasons.items())),
            "bars_skipped_meter": dict(sorted(bars_skipped[src.name].items())),
        }
    report = {
        "format": "edge-music pieces v1",
        "code_version": CODE_VERSION,
        "music21": version("music21"),
        "limit": limit,
        "pieces": len(kept),
        "bars": sum(len(p["bars"]) for p in kept),
        "train": sum(1 for p in kept if p["split"] == "train"),
        "heldout": sum(1 for p in kept if p["split"] == "heldout"),
        "per_source": per_source,
        "sources": [s.record() for s in sources],
        "excluded_files": sorted([name, *e] for name, ex in excluded.items() for e in ex),
        "skipped": skipped,
        "pieces_sha256": hashlib.sha256(body).hexdigest(),
    }
    text = json.dumps(report, indent=1, ensure_ascii=False) + "\n"
    _write_if_changed(out_dir / "build.json", text.encode("utf-8"))
    report["wall_s"] = round(time.perf_counter() - t0, 1)
    return report


def format_report(report: dict) -> str:
    """The short human report the build prints."""
    lines = [f"{'source':<14}{'files':>7}{'pieces':>8}{'bars':>8}{'train':>7}{'held':>6}  skipped"]
    for name, s in report["per_source"].items():
        why = ", ".join(f"{n} {r}" for r, n in s["skipped"].items()) or "-"
        lines.append(
            f"{name:<14}{s['files']:>7}{s['pieces']:>8}{s['bars']:>8}{s['train']:>7}{s['heldout']:>6}  {why}"
        )
        if s["bars_skipped_meter"]:
            meters = ", ".join(f"{m} x{n}" for m, n in s["bars_skipped_meter"].items())
            lines.append(f"{'':<14}bars left out of kept pieces (meter): {meters}")
        if s["files_excluded"]:
            lines.append(f"{'':<14}files excluded: {s['files_excluded']}")
    lines.append(
        f"{'total':<14}{'':>7}{report['pieces']:>8}{report['bars']:>8}{report['train']:>7}{report['heldout']:>6}"
    )
    unsupported = Counter()
    for s in report["skipped"]:
        unsupported[s[2]] += 1
    if unsupported:
        lines.append("skipped pieces: " + ", ".join(f"{r}: {n}" for r, n in sorted(unsupported.items())))
    return "\n".join(lines)
