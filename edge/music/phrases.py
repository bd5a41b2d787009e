"""The harmonic plan: phrases with a progression, a cadence and a place in the section's form.

The conductor asks a ``PhrasePlanner`` for each bar's chords. A section is cut
into phrases of the style's length (4 or 8 bars), laid out in a small form
such as A A' B A'. Each letter is a *theme*: a progression of scale degrees in
the style's harmonic rhythm with chord colours fixed once, so a theme that
comes back sounds like itself. A primed letter is the same theme with another
ending: a phrase followed by its own return ends on a half cadence (a
question), the last phrase of a section on an authentic or plagal one (the
answer). Themes are remembered across sections, so the home theme (A) returns
after a contrasting section, and renewed now and then so an hour never
settles on one loop.

Degrees are realised in the bar's own key and mode when the bar is planned,
so a mood change mid-phrase keeps every chord diatonic. Sections the style
marks as pedal hold the tonic on purpose (a drone), and only those do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.music.events import Chord
from edge.music.style import StylePack
from edge.music.theory import FAMILY, diatonic_triad

#: The last degrees of a phrase for each cadence the style may prefer.
CADENCES: dict[str, tuple[int, ...]] = {
    "authentic": (5, 1),
    "plagal": (4, 1),
    "half": (4, 5),
    "deceptive": (5, 6),
}
#: Cadences that close (end on the tonic); the rest leave the phrase open.
CLOSING = ("authentic", "plagal")
#: Phrase forms of a section, letter per phrase; a prime is a return with another ending.
FORMS = (("A", "A'", "B", "A'"), ("A", "B", "A'", "B'"), ("A", "A'", "B", "B'"), ("A", "B", "A", "C"))
#: Chance that a theme coming back has one chord (never the cadence) swapped for a relative.
VARY = 0.35
#: Degrees that can stand in for each other (same function): the variation of a returning theme.
SUBSTITUTES = {1: (6, 3), 2: (4,), 3: (1, 6), 4: (2, 6), 5: (7, 3), 6: (4, 1), 7: (5,)}
#: Sections after which every theme but the home one is forgotten (fresh material).
RENEW_AFTER = 3


@dataclass(frozen=True)
class Theme:
    """A phrase's progression: degrees per chord slot and the colour each family takes in each slot."""

    degrees: tuple[int, ...]
    colours: tuple[dict[str, str], ...]


@dataclass(frozen=True)
class PhraseBar:
    """What the plan says about one bar's place in its phrase."""

    chords: tuple[Chord, ...]
    """The bar's harmony in its key and mode, onsets in beats from the bar line."""
    bar: int
    """0-based bar inside the phrase."""
    length: int
    """Bars in the phrase."""
    label: str
    """The phrase's letter in the section's form (``A``, ``A'``, ``B`` ...)."""
    cadence: str
    """On the phrase's last bar, the cadence it ends with; empty elsewhere."""
    pedal: bool
    """True in a section the style holds on a drone on purpose."""


def harmonic_rhythm(style: StylePack, beats: int) -> tuple[int, int]:
    """(chords per bar, bars per chord) for the style's ``chord_beats`` in a bar of ``beats``."""
    span = style.chord_beats
    if span >= beats:
        return 1, max(1, round(span / beats))
    if beats % span:
        return 1, 1  # 3/4 with 2-beat chords: one chord per bar
    return beats // span, 1


class PhrasePlanner:
    """Plans phrase after phrase inside each section; deterministic for its random stream."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._themes: dict[str, Theme] = {}
        self._sections = 0
        self._form: tuple[str, ...] = FORMS[0]
        self._phrase = -1
        self._phrase_start = 0
        self._phrase_length = 0
        self._degrees: tuple[int, ...] = (1,)
        self._colours: tuple[dict[str, str], ...] = ()
        self._cadence = ""
        self._beats = 0
        self._style = ""

    def reseed(self, rng: np.random.Generator) -> None:
        """Use a new random stream from the next phrase on."""
        self._rng = rng

    def bar(
        self,
        style: StylePack,
        section: str,
        bar_in_section: int,
        section_length: int,
        key: int,
        mode: str,
        beats: int,
        new_section: bool,
    ) -> PhraseBar:
        """The chords and phrase position of the next bar."""
        if style.name != self._style:
            self._themes, self._style = {}, style.name  # another style's themes are not this one's
            new_section = True
        if new_section:
            self._start_section(bar_in_section)
        if new_section or beats != self._beats or bar_in_section >= self._phrase_start + self._phrase_length:
            self._start_phrase(style, bar_in_section, section_length, beats)
        position = bar_in_section - self._phrase_start
        pedal = section in style.pedal_sections
        per_bar, bars_per_chord = harmonic_rhythm(style, beats)
        span = beats // per_bar
        chords = []
        for slot_in_bar in range(per_bar):
            slot = (position * per_bar + slot_in_bar) // bars_per_chord
            degree = 1 if pedal else self._degrees[min(slot, len(self._degrees) - 1)]
            colours = self._colours[min(slot, len(self._colours) - 1)]
            root, family = diatonic_triad(key, mode, degree)
            chords.append(Chord(float(slot_in_bar * span), float(span), root, colours[family]))
        last = position == self._phrase_length - 1
        return PhraseBar(
            chords=tuple(chords),
            bar=position,
            length=self._phrase_length,
            label=self._form[self._phrase % len(self._form)],
            cadence=self._cadence if last and not pedal else "",
            pedal=pedal,
        )

    # -- internals ---------------------------------------------------------------

    def _start_section(self, bar_in_section: int) -> None:
        self._sections += 1
        if self._sections % RENEW_AFTER == 0:
            self._themes = {k: v for k, v in self._themes.items() if k == "A"}
        self._form = FORMS[int(self._rng.integers(len(FORMS)))]
        self._phrase = -1
        self._phrase_start = bar_in_section
        self._phrase_length = 0

    def _start_phrase(self, style: StylePack, bar_in_section: int, section_length: int, beats: int) -> None:
        self._phrase += 1
        self._phrase_start = bar_in_section
        self._beats = beats
        remaining = max(1, section_length - bar_in_section)
        self._phrase_length = min(style.phrase_bars, remaining)
        per_bar, bars_per_chord = harmonic_rhythm(style, beats)
        slots = max(1, -(-self._phrase_length * per_bar // bars_per_chord))
        label = self._form[self._phrase % len(self._form)]
        letter = label.rstrip("'")
        returning = letter in self._themes
        theme = self._themes.get(letter) or self._new_theme(style)
        self._themes[letter] = theme
        is_last = bar_in_section + self._phrase_length >= section_length
        following = self._form[(self._phrase + 1) % len(self._form)]
        if is_last:
            cadence = next((c for c in style.cadences if c in CLOSING), "authentic")
        elif following.rstrip("'") == letter:
            cadence = "half"  # a question its own return answers
        else:
            cadence = str(self._rng.choice(style.cadences))
        degrees = _fill(theme.degrees, slots, CADENCES[cadence])
        if returning and self._rng.random() < VARY and slots > 2:
            degrees = self._vary(degrees, len(CADENCES[cadence]))
        self._degrees = degrees
        self._colours = tuple(theme.colours[i % len(theme.colours)] for i in range(slots))
        self._cadence = cadence

    def _new_theme(self, style: StylePack) -> Theme:
        degrees = style.progressions[int(self._rng.integers(len(style.progressions)))]
        colours = tuple(
            {family: self._colour(style, family) for family in ("maj", "min", "dim")} for _ in range(8)
        )
        return Theme(tuple(degrees), colours)

    def _colour(self, style: StylePack, family: str) -> str:
        options = [q for q in style.chords if FAMILY.get(q) == family]
        if not options:
            # No diminished colour in the vocabulary: a minor one is the closest stable sound.
            options = [q for q in style.chords if FAMILY.get(q) == "min"]
        return str(self._rng.choice(options))

    def _vary(self, degrees: tuple[int, ...], tail: int) -> tuple[int, ...]:
        body = len(degrees) - tail
        slot = int(self._rng.integers(body))
        options = [d for d in SUBSTITUTES[degrees[slot]] if (slot == 0 or d != degrees[slot - 1])]
        if slot + 1 < len(degrees):
            options = [d for d in options if d != degrees[slot + 1]]
        if not options:
            return degrees
        varied = list(degrees)
        varied[slot] = int(self._rng.choice(options))
        return tuple(varied)


def _fill(progression: tuple[int, ...], slots: int, tail: tuple[int, ...]) -> tuple[int, ...]:
    """The progression repeated over ``slots`` chords, ending on the cadence's degrees.

    The chord before the cadence never equals its first chord, so the cadence is heard as a move.
    """
    if slots <= len(tail):
        return tail[-slots:]
    body = [progression[i % len(progression)] for i in range(slots - len(tail))]
    if body[-1] == tail[0]:
        body[-1] = 2 if tail[0] == 4 else 4
    if len(body) > 1 and body[-1] == body[-2]:
        body[-2] = 6 if body[-1] != 6 else 1
    return (*body, *tail)
