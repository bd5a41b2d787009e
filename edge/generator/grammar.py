"""The grammar of a bar's notes: which token may come next, and the melody's note budget.

``Grammar`` walks the note section of a bar (``POS`` then bass and melody pitches, each with a
``DUR``) and says which tokens are allowed next, leaning the melody's note count into the
planned density bucket. ``GivenMelody`` is the same walk when the melody is given (a reimagined
track): the model writes the bass around notes it may not change.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.generator import tokens as T
from edge.music.events import Note

#: Logit penalty for ending a bar short of its planned density or writing past it.
DENSITY_BIAS = 6.0


def mask(ids: Sequence[int]) -> np.ndarray:
    """A boolean mask over the vocabulary, True at ``ids``."""
    out = np.zeros(len(T.VOCAB), dtype=bool)
    out[list(ids)] = True
    return out


def melody_budget(density: int, beats: int, steps: int) -> tuple[int, int]:
    """Fewest and most melody notes a bar of ``beats`` may have to measure as density bucket ``density``."""
    edges = (0.0, *T.DENSITY_EDGES)
    fewest = math.ceil(edges[density] * beats - 1e-9)
    most = math.ceil(T.DENSITY_EDGES[density] * beats - 1e-9) - 1 if density < len(T.DENSITY_EDGES) else steps
    return fewest, most


class Grammar:
    """Where the note section of a bar stands, and so which tokens may come next.

    With a melody budget it also leans the bar's note count into the planned
    density bucket: ending the bar before the fewest notes, or adding a melody
    note past the most, costs ``DENSITY_BIAS`` in the logits. A penalty rather
    than a ban, because forcing notes in crams them into the end of the bar. A
    ``ceiling`` (the style's own most notes a bar) is a ban: past it, no melody.
    """

    def __init__(
        self, steps: int, has_bass: bool, budget: tuple[int, int] | None = None, ceiling: int | None = None
    ) -> None:
        self.steps = steps
        self.has_bass = has_bass
        self.fewest, self.most = budget or (0, steps)
        self.ceiling = steps if ceiling is None else ceiling
        self.melody_notes = 0
        self.last_melody: int | None = None
        self.pos = -1
        self.expect = "pos"  # pos: a POS, BAR or a melody note after the bass; note: a pitch; dur: a DUR
        self.tracks: set[str] = set()

    def allowed(self, masks: Any) -> np.ndarray:
        """The tokens the grammar and the masks allow next."""
        if self.expect == "dur":
            return mask(T.DUR_IDS[: self.steps - self.pos])
        room = self.melody_notes < self.ceiling
        if self.expect == "note":
            allowed = masks.melody.copy() if room else np.zeros(len(T.VOCAB), dtype=bool)
            if self.has_bass:
                allowed |= masks.bass
            return allowed if allowed.any() else mask([T.BAR])
        if not room and not self.has_bass:
            return mask([T.BAR])  # nothing more can be written in this bar
        allowed = mask([T.BAR, *T.POS_IDS[self.pos + 1 : self.steps]])
        if self.pos >= 0 and self.tracks == {"BAS"} and room:
            allowed |= masks.melody
        return allowed

    def bias(self, masks: Any) -> np.ndarray | None:
        """Logit penalties that steer the melody's note count into the budget (None: no steer)."""
        over, short = self.melody_notes >= self.most, self.melody_notes < self.fewest
        if self.expect == "dur" or not (over or short):
            return None  # most tokens: nothing to add, no array to build in the per-token loop
        bias = np.zeros(len(T.VOCAB), dtype=np.float32)
        if over:
            bias[masks.melody] = -DENSITY_BIAS
        if short:
            bias[T.BAR] = -DENSITY_BIAS
            bias[masks.bass] = -DENSITY_BIAS  # owed notes go to the melody
        return bias

    def accepts(self, tokens: Sequence[int], masks: Any) -> bool:
        """True if ``tokens`` (a bar's notes) are a bar this grammar, these masks and the budget allow."""
        probe = copy.copy(self)
        probe.tracks = set(self.tracks)
        for token in tokens:
            if not probe.allowed(masks)[token]:
                return False
            probe.take(token)
        return probe.expect == "pos" and probe.fewest <= probe.melody_notes <= probe.most

    def take(self, token: int) -> None:
        name = T.VOCAB[token]
        if name.startswith("POS_"):
            self.pos, self.expect, self.tracks = int(name[4:]), "note", set()
        elif name.startswith(("MEL_", "BAS_")):
            self.tracks.add(name[:3])
            self.melody_notes += name.startswith("MEL_")
            if name.startswith("MEL_"):
                self.last_melody = token
            self.expect = "dur"
        else:
            self.expect = "pos"


@dataclass(frozen=True)
class GivenNote:
    """A melody note as the model reads it: sixteenths from the bar line, its token pitch, its length."""

    step: int
    pitch: int
    """Folded by octaves into the melody tokens' range (the note itself plays as written)."""
    length: int


def given_notes(melody: Sequence[Note], steps: int) -> list[GivenNote]:
    """A bar's given melody on the model's grid: one note per sixteenth (the first of a clash)."""
    out: dict[int, GivenNote] = {}
    low, high = T.MELODY_RANGE
    for note in sorted(melody, key=lambda n: (n.onset, -n.pitch)):
        step = min(steps - 1, max(0, round(note.onset * 4)))
        if step in out:
            continue
        pitch = note.pitch
        while pitch < low:
            pitch += 12
        while pitch > high:
            pitch -= 12
        length = min(steps - step, max(1, round(note.duration * 4)), T.MAX_LENGTH)
        out[step] = GivenNote(step, pitch, length)
    return [out[s] for s in sorted(out)]


class GivenMelody(Grammar):
    """The grammar of a bar whose melody is given: the model writes the bass around it.

    A ``POS`` may not pass the next given onset; at a given onset the only melody token allowed is
    the given pitch, and its ``DUR`` the given length; no other melody note is allowed; the bar
    ends only once every given note is written. Without a bass the walk goes from onset to onset.
    """

    def __init__(self, steps: int, has_bass: bool, notes: Sequence[GivenNote]) -> None:
        super().__init__(steps, has_bass)
        self.notes = list(notes)
        self.placed = 0
        self._given_dur = False

    @property
    def due(self) -> GivenNote | None:
        """The next given note not yet written."""
        return self.notes[self.placed] if self.placed < len(self.notes) else None

    def allowed(self, masks: Any) -> np.ndarray:
        due = self.due
        if self.expect == "dur":
            if self._given_dur:
                return mask([T.ID[f"DUR_{self.notes[self.placed - 1].length}"]])
            return mask(T.DUR_IDS[: self.steps - self.pos])
        here = due is not None and due.step == self.pos and "MEL" not in self.tracks
        melody = mask([T.ID[f"MEL_{due.pitch}"]]) if here else np.zeros(len(T.VOCAB), dtype=bool)
        if self.expect == "note":
            bass = masks.bass if self.has_bass and "BAS" not in self.tracks else np.zeros_like(melody)
            allowed = melody | bass
            return allowed if allowed.any() else melody
        if here:  # the bass is written at this onset: now the given note
            return melody
        last = due.step if due is not None else self.steps - 1
        if not self.has_bass:
            return mask([T.POS_IDS[due.step]]) if due is not None else mask([T.BAR])
        allowed = mask(T.POS_IDS[self.pos + 1 : last + 1])
        if due is None:
            allowed[T.BAR] = True
        return allowed

    def bias(self, masks: Any) -> np.ndarray | None:
        return None  # the melody's count is given, not steered

    def take(self, token: int) -> None:
        self._given_dur = T.VOCAB[token].startswith("MEL_")
        self.placed += self._given_dur
        super().take(token)
