"""What every generator offers the engine, whichever tier it is."""

from __future__ import annotations

from typing import Protocol

from edge.music.events import Bar, BarPlan
from edge.music.style import StylePack


class Generator(Protocol):
    """Writes the lead, the bass and the harmony of one bar at a time."""

    name: str
    """The tier it implements: "0", "S", "M" or "L"."""

    def generate(self, plan: BarPlan, style: StylePack) -> Bar:
        """The next bar, following ``plan`` and staying inside ``style``'s constraints."""
        ...
