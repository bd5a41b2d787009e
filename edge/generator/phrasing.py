"""What a neural tier needs of the conductor's phrases: planned chords as tokens, returning motifs, cadences.

- ``planned_chord_tokens``: the plan's harmony as the model's chord tokens, one per beat. The
  model then writes melody and bass over chords it is given, as it learnt to over real ones.
- ``PhraseMemory``: the note tokens each phrase letter stated in the current section, so a
  returning phrase (``A'``) states its motif again before the model varies it; and the line's
  recent pitch classes, so a melody that has leaned on one note (most often the tonic, which
  the chorales and folk tunes the models learnt from end and open on) is nudged off it.
- ``cadence_note``: a phrase's last melody note on its cadence chord, the tonic for a closing one.
- ``chord_tone_pull``: on each beat, a soft pull towards the planned chord's tones, so the melody
  follows the harmony instead of leaning on the tonic whatever the chord.
- ``phrase_contour``: a soft pull of the melody towards an arch over the phrase (up to its middle,
  down into the cadence), higher for a contrasting letter (B, C) than for the home theme.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Iterable, Sequence

import numpy as np

from edge.generator import tokens as T
from edge.music.events import BarPlan, Note
from edge.music.phrases import CLOSING
from edge.music.theory import FAMILY, chord_pitch_classes, scale_pitch_classes

#: Logits a melody pitch an octave from the arch's target gives up (a nudge, never a ban).
CONTOUR_WEIGHT = 1.5
#: Where in the register the arch starts and ends (0 = bottom, 1 = top), and how high it rises.
CONTOUR_BASE, CONTOUR_RISE = 0.35, 0.35
#: How much higher a contrasting phrase (B, C) sits, as a share of the register.
CONTRAST_LIFT = 0.12

#: Every melody pitch the tokens can write, and its token id (built once, used every bar).
_MEL_PITCHES = np.arange(T.MELODY_RANGE[0], T.MELODY_RANGE[1] + 1)
_MEL_IDS = np.array([T.ID[f"MEL_{p}"] for p in _MEL_PITCHES])

#: Logits a chord tone gains over other scale notes for a melody note on a beat.
CHORD_TONE_PULL = 1.5

#: How many of the line's latest notes the pitch-class balance looks back over.
BALANCE_NOTES = 24
#: Logits a pitch class gives up for each even share it has over-used in those notes (one even
#: share = 1 / the scale's size: a tonic at 40 % of a pentatonic line is one share over).
BALANCE_WEIGHT = 1.0

#: A chord quality the model has no token for -> the nearest kind it has.
_NEAREST_KIND = {"maj9": "maj7", "min9": "min7", "add9": "maj", "madd9": "min", "m7b5": "dim", "sus2": "maj"}


def token_kind(quality: str) -> str:
    """The model's chord kind for one of the style's qualities (maj9 -> maj7, power -> maj ...)."""
    if quality in T.CHORD_KINDS:
        return quality
    return _NEAREST_KIND.get(quality, FAMILY.get(quality, "maj"))


def planned_chord_tokens(plan: BarPlan) -> list[int]:
    """One chord token per beat of the bar, from the plan's harmony."""
    tokens = []
    for beat in range(plan.beats):
        chord = next(
            (c for c in plan.chords if c.onset <= beat < c.onset + c.duration - 1e-9), plan.chords[-1]
        )
        tokens.append(T.ID[f"CH_{chord.root % 12}_{token_kind(chord.quality)}"])
    return tokens


class PhraseMemory:
    """The note tokens of each phrase letter's bars in the current section."""

    def __init__(self) -> None:
        self._bars: dict[str, list[list[int]]] = {}
        self._recent: deque[int] = deque(maxlen=BALANCE_NOTES)
        self.last_pitch: int | None = None
        """The melody's latest note (its next note's step or leap is measured from it)."""

    def copy(self) -> PhraseMemory:
        """An independent copy (for the tier that takes over)."""
        memory = PhraseMemory()
        memory._bars = {label: [list(bar) for bar in bars] for label, bars in self._bars.items()}
        memory._recent.extend(self._recent)
        memory.last_pitch = self.last_pitch
        return memory

    def clear(self) -> None:
        """A new section: its form starts from fresh material (the ear still remembers the line)."""
        self._bars.clear()

    def hear(self, pitches: Iterable[int]) -> None:
        """The melody pitches a bar played, in order."""
        for pitch in pitches:
            self._recent.append(pitch % 12)
            self.last_pitch = pitch

    def balance(self, plan: BarPlan) -> np.ndarray | None:
        """Logit nudges away from the pitch classes the line has over-used lately (None: none is).

        A pitch class at or under an even share of the scale loses nothing; one at twice its share
        loses ``BALANCE_WEIGHT``. A nudge, never a ban: a line may still return to its tonic.
        """
        if len(self._recent) < BALANCE_NOTES // 2:
            return None
        scale = scale_pitch_classes(plan.key, plan.mode)
        counts = np.bincount(np.fromiter(self._recent, dtype=np.int64), minlength=12)
        over = np.maximum(0.0, counts / len(self._recent) * len(scale) - 1.0)
        if not over.any():
            return None
        bias = np.zeros(len(T.VOCAB), dtype=np.float32)
        bias[_MEL_IDS] = -BALANCE_WEIGHT * over[_MEL_PITCHES % 12]
        return bias

    def remember(self, plan: BarPlan, notes: Sequence[int]) -> None:
        """Keep a bar of a phrase that states its letter for the first time."""
        if not plan.chords or plan.phrase_label.endswith("'"):
            return
        stated = self._bars.setdefault(plan.phrase_label, [])
        if plan.phrase_bar == 0:
            stated.clear()
        if len(stated) == plan.phrase_bar:
            stated.append(list(notes))

    def recall(self, plan: BarPlan) -> list[int] | None:
        """For the first half of a returning phrase, what its letter played at this bar."""
        if not plan.chords or not plan.phrase_label.endswith("'") or plan.cadence:
            return None
        if plan.phrase_bar >= max(1, plan.phrase_length // 2):
            return None
        stated = self._bars.get(plan.phrase_label.rstrip("'"), [])
        return stated[plan.phrase_bar] if plan.phrase_bar < len(stated) else None


def cadence_note(note: Note, plan: BarPlan) -> Note:
    """``note`` moved to the nearest tone of the cadence chord (the tonic for a closing cadence),
    in the plan's scale and melody register, and held to the bar line."""
    chord = plan.chords[-1]
    tones = {plan.key} if plan.cadence in CLOSING else set(chord_pitch_classes(chord.root, chord.quality)[:3])
    scale = set(scale_pitch_classes(plan.key, plan.mode))
    low, high = plan.register
    candidates = [p for p in range(low, high + 1) if p % 12 in tones and p % 12 in scale]
    if not candidates:
        return note
    pitch = min(candidates, key=lambda p: (abs(p - note.pitch), p))
    return dataclasses.replace(
        note, pitch=pitch, duration=round(max(note.duration, plan.beats - note.onset), 4)
    )


def phrase_contour(plan: BarPlan) -> np.ndarray:
    """Logit nudges over the vocabulary: melody pitches near this bar's point on the phrase's arch."""
    low, high = plan.register
    progress = (plan.phrase_bar + 0.5) / max(1, plan.phrase_length)
    lift = CONTRAST_LIFT if plan.phrase_label.rstrip("'") != "A" else 0.0
    target = low + (high - low) * (CONTOUR_BASE + lift + CONTOUR_RISE * math.sin(math.pi * progress))
    bias = np.zeros(len(T.VOCAB), dtype=np.float32)
    bias[_MEL_IDS] = -CONTOUR_WEIGHT * np.abs(_MEL_PITCHES - target) / 12.0
    return bias


def chord_tone_pull(plan: BarPlan) -> list[np.ndarray]:
    """Per beat of the bar, logit nudges towards the melody pitches of the chord sounding then."""
    pulls = []
    for beat in range(plan.beats):
        chord = next(
            (c for c in plan.chords if c.onset <= beat < c.onset + c.duration - 1e-9), plan.chords[-1]
        )
        tones = chord_pitch_classes(chord.root, chord.quality)[:4]
        bias = np.zeros(len(T.VOCAB), dtype=np.float32)
        bias[_MEL_IDS[np.isin(_MEL_PITCHES % 12, tones)]] = CHORD_TONE_PULL
        pulls.append(bias)
    return pulls
