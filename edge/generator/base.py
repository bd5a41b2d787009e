"""What every generator offers the engine, whichever tier it is."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from edge.music.events import Bar, BarPlan, Note
from edge.music.style import StylePack


class Generator(Protocol):
    """Writes the lead, the bass and the harmony of one bar at a time."""

    name: str
    """The tier it implements: "0", "S", "M" or "L"."""

    def generate(self, plan: BarPlan, style: StylePack) -> Bar:
        """The next bar, following ``plan`` and staying inside ``style``'s constraints."""
        ...


def keep_given_melody(notes: Iterable[Note], plan: BarPlan) -> list[Note]:
    """``notes`` with the lead replaced by the plan's given melody, note for note (when it has one)."""
    if not plan.melody:
        return list(notes)
    kept = [n for n in notes if n.track != "lead"]
    return kept + [n if n.track == "lead" else _as_lead(n) for n in plan.melody]


def _as_lead(note: Note) -> Note:
    return Note(note.onset, note.duration, note.pitch, note.velocity, "lead")
