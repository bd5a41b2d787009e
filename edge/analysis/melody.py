"""The melody line: the most salient monophonic line of a MIDI file.

A part (a track on a channel) is the melody when it calls itself one (a name such as "Melody",
"Lead", "Vocal", "Soprano"; its top voice if it plays chords) or when it is a mostly monophonic
line above every other part. Failing
both, the melody is the skyline: the highest voice, where a lower note that starts under a
sounding higher one is left out. Either way overlaps are cleaned: of notes starting together
the highest stays, and a note ends where the next one starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from edge.analysis.score import Note, Score

MELODY_NAMES = re.compile(
    r"melod|lead|vocal|voice|voz|stimme|sopran|singer|sing\b|tune|solo|theme|main|canto|chant|lyric",
    re.IGNORECASE,
)
"""Track names that announce the melody."""
MONOPHONIC = 0.85
"""Share of a part's notes that must start alone (no other note of the part sounding) for it to be a line."""
COVERAGE = 0.3
"""Share of the piece's length a line's notes must span to be the melody."""
_TOLERANCE = 1 / 32
"""Quarter notes of overlap (legato playing) that do not count as two notes at once."""


@dataclass(frozen=True)
class Melody:
    """The melody and where it came from."""

    notes: tuple[Note, ...]
    """Monophonic: by onset, each ending at or before the next onset."""
    source: str
    """Such as 'track 2 "Flute" (named)', 'track 1 ch 1 (highest line)' or "skyline of all parts"."""
    part: int | None
    """The part it came from, or None for the skyline."""


def melody_of(score: Score) -> Melody:
    """The melody of ``score`` (empty when it has only drums)."""
    pitched = [p for p, part in enumerate(score.parts) if not part.drums]
    by_part: dict[int, list[Note]] = {p: [] for p in pitched}
    for note in score.notes:
        if note.part in by_part:
            by_part[note.part].append(note)
    if not pitched:
        return Melody((), "no pitched parts (drums only)", None)
    stats = {p: _line_stats(notes, score.end) for p, notes in by_part.items()}
    named = [p for p in pitched if MELODY_NAMES.search(score.parts[p].name) and stats[p][2] >= COVERAGE]
    if named:  # the most monophonic, then the highest; chords in it leave their top note
        best = max(named, key=lambda p: (stats[p][0] >= MONOPHONIC, stats[p][1], -p))
        if stats[best][0] >= MONOPHONIC:
            return Melody(tuple(_clean(by_part[best])), f"{_describe(score, best)} (named)", best)
        return Melody(tuple(skyline(by_part[best])), f"{_describe(score, best)} (named; its top voice)", best)
    if len(pitched) > 1:
        highest = max(pitched, key=lambda p: (stats[p][1], -p))
        mono, _, coverage = stats[highest]
        if mono >= MONOPHONIC and coverage >= COVERAGE:
            return Melody(
                tuple(_clean(by_part[highest])), f"{_describe(score, highest)} (highest line)", highest
            )
    notes = [n for p in pitched for n in by_part[p]]
    return Melody(tuple(skyline(notes)), "skyline of all parts (highest voice)", None)


def skyline(notes: list[Note]) -> list[Note]:
    """The highest voice: a note is left out when it starts under a sounding higher note."""
    ordered = sorted(notes, key=lambda n: (n.start, -n.pitch))
    kept: list[Note] = []
    for note in ordered:
        if kept:
            last = kept[-1]
            if last.start == note.start:
                continue  # a lower note of the same onset
            if last.end > note.start + _TOLERANCE and last.pitch > note.pitch:
                continue  # under the melody
        kept.append(note)
    return _clean(kept)


def _clean(notes: list[Note]) -> list[Note]:
    """One note per onset (the highest), each cut where the next one starts."""
    ordered = sorted(notes, key=lambda n: (n.start, -n.pitch))
    line: list[Note] = []
    for note in ordered:
        if line and line[-1].start == note.start:
            continue
        if line and line[-1].end > note.start:
            line[-1] = replace(line[-1], end=note.start, end_s=note.start_s)
        line.append(note)
    return line


def _line_stats(notes: list[Note], length: float) -> tuple[float, float, float]:
    """(share of notes starting alone, duration-weighted mean pitch, share of the piece covered)."""
    if not notes:
        return 0.0, 0.0, 0.0
    alone = 0
    sounding_until = float("-inf")
    previous_start = None
    for note in notes:  # by onset
        if note.start != previous_start and sounding_until <= note.start + _TOLERANCE:
            alone += 1
        sounding_until = max(sounding_until, note.end)
        previous_start = note.start
    weights = [max(n.end - n.start, 0.05) for n in notes]
    mean_pitch = sum(n.pitch * w for n, w in zip(notes, weights, strict=True)) / sum(weights)
    covered = (max(n.end for n in notes) - notes[0].start) / length if length > 0 else 0.0
    return alone / len(notes), mean_pitch, covered


def _describe(score: Score, part: int) -> str:
    p = score.parts[part]
    text = f"track {p.track + 1}"
    if sum(1 for q in score.parts if q.track == p.track) > 1:
        text += f" channel {p.channel + 1}"
    return f'{text} "{p.name}"' if p.name else text
