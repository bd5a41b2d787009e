"""An analysed track as the conductor's bar plans, its melody given and its form kept.

Each bar of the original becomes one ``BarPlan`` (quarter-note beats, 2-4 a bar) that carries:

- the melody as written (``BarPlan.melody``): onsets and lengths from the bar line, pitches as
  they are (moved by ``transpose`` semitones only when asked), which every tier plays note for note;
- the harmony: the analysed chord of each beat (``keep``), coloured by the style's vocabulary, or
  chords chosen to fit the melody in the style's harmonic rhythm (``reharmonize``);
- the form: each phrase keeps its label (``A``, ``B``, ``A'``), so an A' of the original is an
  A' of the new version, and each letter takes a part of the arc (A builds, B peaks, C breaks),
  which decides what the band plays;
- the tempo: ``tempo`` when given, else the original's, moved by octaves into the style's range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edge.analysis.analyse import Analysis
from edge.exits import UsageError
from edge.music.events import BarPlan, Chord, Note
from edge.music.style import StylePack
from edge.music.theory import CHORD_QUALITIES, FAMILY, chord_pitch_classes, diatonic_triad

#: The arc part each phrase letter plays, and its energy against the listener's.
ROLES = {"A": ("build", 0.0), "B": ("peak", 0.2), "C": ("break", -0.25)}
#: A melody note on the chord's tones counts this much more on a strong beat (1 and 3).
STRONG_BEAT = 1.5
#: What a reharmonized chord gives up for repeating the one before (harmony that moves).
REPEAT_COST = 0.35
#: Degrees a reharmonization prefers a little (tonic, subdominant, dominant, relative).
HOME_DEGREES = {1: 0.2, 4: 0.15, 5: 0.15, 6: 0.05}


@dataclass(frozen=True)
class Reimagining:
    """What to make of the track: the arc's energy, tempo and harmony choices."""

    energy: float = 0.5
    """The listener's energy 0..1 (from the mood or --energy); the form moves around it."""
    tempo: float | None = None
    """BPM for the new version; None: the original's, folded into the style's range."""
    keep_chords: bool = True
    """True: the analysed harmony; False: reharmonize to fit the melody and the style."""
    transpose: int = 0
    """Semitones to move the melody and the harmony (0: as written)."""


def plan_track(analysis: Analysis, style: StylePack, how: Reimagining) -> list[BarPlan]:
    """One plan per bar of the original; raises UsageError (one line) for what it cannot keep."""
    if not analysis.melody.notes:
        raise UsageError(f"{analysis.score.path}: no melody to keep (only drums, or no notes)")
    for i, bar in enumerate(analysis.bars):
        quarters = bar.end - bar.start
        if abs(quarters - round(quarters)) > 1e-6 or not 2 <= round(quarters) <= 4:
            meter = f"{bar.meter.numerator}/{bar.meter.denominator}"
            raise UsageError(
                f"{analysis.score.path}: bar {i + 1} is in {meter}; reimagine takes bars of 2-4 quarters"
            )
    key = (analysis.key.key.tonic + how.transpose) % 12
    mode = "major" if analysis.key.key.mode == "major" else "aeolian"
    melody = _melody_by_bar(analysis, how.transpose)
    pitches = [n.pitch for bar in melody for n in bar]
    register = (min(pitches), max(max(pitches), min(pitches) + 12))
    harmony = (
        _kept_chords(analysis, style, how.transpose)
        if how.keep_chords
        else _reharmonized(analysis, melody, style, key, mode)
    )
    labels = _labels(analysis)
    plans = []
    for i, bar in enumerate(analysis.bars):
        label, first, last = labels[i]
        role, lift = ROLES.get(label.rstrip("'")[:1], ("peak", 0.1))
        beats = round(bar.end - bar.start)
        density = len(melody[i]) / beats
        low, high = style.density
        plans.append(
            BarPlan(
                index=i,
                tempo=_tempo(analysis, bar.start, style, how.tempo),
                beats=beats,
                key=key,
                mode=mode,
                density=min(max(density, low), high),
                register=register,
                energy=min(1.0, max(0.05, how.energy + lift)),
                section=role,
                bar_in_section=i - first,
                section_length=last - first + 1,
                style=style.name,
                new_phrase=i == first,
                chords=harmony[i],
                phrase_bar=i - first,
                phrase_length=last - first + 1,
                phrase_label=label,
                melody=tuple(melody[i]),
            )
        )
    return plans


def _melody_by_bar(analysis: Analysis, transpose: int) -> list[list[Note]]:
    """The melody's notes in the bar they start in, in beats from its bar line."""
    out: list[list[Note]] = [[] for _ in analysis.bars]
    starts = [bar.start for bar in analysis.bars]
    b = 0
    for note in sorted(analysis.melody.notes, key=lambda n: (n.start, -n.pitch)):
        while b + 1 < len(starts) and note.start >= starts[b + 1] - 1e-9:
            b += 1
        onset = round(note.start - starts[b], 6)
        length = round(max(note.end - note.start, 1 / 16), 6)
        pitch = min(127, max(0, note.pitch + transpose))
        out[b].append(Note(max(0.0, onset), length, pitch, note.velocity, "lead"))
    return out


def _tempo(analysis: Analysis, at: float, style: StylePack, wanted: float | None) -> float:
    if wanted is not None:
        return float(wanted)
    tempos = analysis.score.tempos
    bpm = next((t.bpm for t in reversed(tempos) if t.beat <= at + 1e-9), tempos[0].bpm if tempos else 120.0)
    low, high = style.tempo
    while bpm < low and bpm * 2 <= high * 1.25:
        bpm *= 2
    while bpm > high and bpm / 2 >= low * 0.8:
        bpm /= 2
    return float(min(max(bpm, low), high))


def _labels(analysis: Analysis) -> list[tuple[str, int, int]]:
    """Per bar: its phrase's label (ASCII primes), first bar and last bar."""
    out: list[tuple[str, int, int]] = []
    sections = sorted(analysis.sections, key=lambda s: s.first_bar)
    for i in range(len(analysis.bars)):
        found = next((s for s in reversed(sections) if s.first_bar <= i), None)
        if found is None or i > found.last_bar:
            out.append(("A", i, i))
        else:
            out.append((found.label.replace("′", "'"), found.first_bar, found.last_bar))
    return out


def colour(kind: str, style: StylePack) -> str:
    """The style's quality for an analysed chord kind (a focus maj7 for a plain major triad)."""
    if kind in style.chords:
        return kind
    family = FAMILY.get(kind, "maj")
    options = [q for q in style.chords if FAMILY.get(q) == family]
    return options[0] if options else (kind if kind in CHORD_QUALITIES else family)


def _kept_chords(analysis: Analysis, style: StylePack, transpose: int) -> list[tuple[Chord, ...]]:
    """The analysed chord of every quarter, merged where it holds, per bar."""
    beats = analysis.beats
    out = []
    last: tuple[int, str] | None = None
    for bar in analysis.bars:
        chords: list[Chord] = []
        for q in range(round(bar.end - bar.start)):
            at = bar.start + q + 1e-6
            index = next(
                (j for j in range(bar.first_beat, bar.first_beat + bar.beats) if beats[j].end > at), None
            )
            found = analysis.chords[index] if index is not None else None
            if found is not None:
                last = ((found.root + transpose) % 12, colour(found.kind, style))
            root, quality = last or ((analysis.key.key.tonic + transpose) % 12, colour("maj", style))
            if chords and (chords[-1].root, chords[-1].quality) == (root, quality):
                chords[-1] = Chord(chords[-1].onset, chords[-1].duration + 1, root, quality)
            else:
                chords.append(Chord(float(q), 1.0, root, quality))
        out.append(tuple(chords))
    return out


def _reharmonized(
    analysis: Analysis, melody: Sequence[Sequence[Note]], style: StylePack, key: int, mode: str
) -> list[tuple[Chord, ...]]:
    """Chords of the key that fit the melody, one per ``style.chord_beats`` (within a bar)."""
    candidates = [(degree, *diatonic_triad(key, mode, degree)) for degree in range(1, 8)]
    out = []
    previous: tuple[int, str] | None = None
    for i, bar in enumerate(analysis.bars):
        beats = round(bar.end - bar.start)
        span = style.chord_beats if beats % style.chord_beats == 0 else beats
        chords = []
        for start in range(0, beats, span):
            weights = [0.0] * 12
            for note in melody[i]:
                overlap = min(note.onset + note.duration, start + span) - max(note.onset, start)
                if overlap > 0:
                    strong = note.onset % 2 < 1e-6
                    weights[note.pitch % 12] += overlap * (STRONG_BEAT if strong else 1.0)
            last_bar = i == len(analysis.bars) - 1 and start + span >= beats
            _, root, family = max(
                candidates, key=lambda c: (_fit(c, weights, last_bar, previous), -c[0])
            )
            previous = (root, family)
            chords.append(Chord(float(start), float(span), root, colour(family, style)))
        out.append(tuple(chords))
    return out


def _fit(candidate: tuple[int, int, str], weights: list[float], last: bool, previous) -> float:
    """How well a diatonic triad fits a span's melody (``weights``: duration per pitch class)."""
    degree, root, family = candidate
    tones = set(chord_pitch_classes(root, family))
    fit = sum(w for pc, w in enumerate(weights) if pc in tones)
    fit -= 0.5 * sum(w for pc, w in enumerate(weights) if pc not in tones)
    home = HOME_DEGREES.get(degree, 0.0) + (1.0 if last and degree == 1 else 0.0)
    repeat = REPEAT_COST if previous == (root, family) else 0.0
    return fit + home - repeat - (0.3 if family == "dim" else 0.0)
