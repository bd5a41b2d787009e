"""The soft steers a neural tier adds to the model's logits: nudges, never bans (the masks ban).

- ``note_steer``: for a melody note in a planned phrase, the phrase's line (arch and pitch-class
  balance), a pull towards the planned chord's tones on a beat, a penalty for repeating the note
  before and a pull towards a step (1-2 semitones) from it.
- ``keep_melody_mass``: shifts a steer so that it changes which pitch a melody note takes, never
  whether a melody note comes at all. After a ``POS`` a melody note competes with the bass (the
  one written first takes the onset); straight after the bass at its onset, with the next
  ``POS`` and the bar's end (the rhythm). Neither is the steer's to decide.
- ``mode_chord_pull``: for a chord the model picks itself (a plan without harmony), a pull
  towards the chords that sound the requested mode's third, the note that tells minor from major.
"""

from __future__ import annotations

import numpy as np

from edge.generator import tokens as T

#: Logits a melody note gives up for repeating the pitch before it, in a planned phrase.
REPEAT_PENALTY = 1.0
#: Logits a melody note gains for moving by step (1-2 semitones) from the note before: real
#: tunes move mostly by step (conjunct motion), and the models leapt more than they do.
STEP_PULL = 1.0
#: Logits a chord the model picks gains when one of its tones is the requested mode's third
#: (i, III, VI and their sevenths in minor; I, iii, vi in major). Held for a bar, a iv, v or VII
#: outweighs a sparse melody and the bar reads as the other mode.
MODE_CHORD_PULL = 1.0

#: Melody token -> the melody tokens a step (1-2 semitones) above and below it.
STEPS_FROM = {
    T.ID[f"MEL_{p}"]: [T.ID[f"MEL_{q}"] for q in (p - 2, p - 1, p + 1, p + 2) if f"MEL_{q}" in T.ID]
    for p in range(T.MELODY_RANGE[0], T.MELODY_RANGE[1] + 1)
}


def note_steer(line: np.ndarray, chord_tones: np.ndarray | None, last: int | None) -> np.ndarray:
    """The logits a melody note gains: ``line`` (the phrase's arch), plus ``chord_tones`` (on a
    beat), minus ``REPEAT_PENALTY`` at the ``last`` melody token, plus ``STEP_PULL`` a step from it."""
    steer = line + chord_tones if chord_tones is not None else line.copy()
    if last is not None:
        steer[last] -= REPEAT_PENALTY  # a line moves more than it repeats
        steer[STEPS_FROM[last]] += STEP_PULL
    return steer


def keep_melody_mass(
    base: np.ndarray, steer: np.ndarray, melody: np.ndarray, temperature: float
) -> np.ndarray:
    """``steer`` shifted on the ``melody`` tokens so that, sampled at ``temperature`` from
    ``base + steer``, the melody tokens together are as likely as from ``base`` alone."""
    ids = np.flatnonzero(melody)
    if not ids.size:
        return steer
    before = base[ids].astype(np.float64) / temperature
    after = before + steer[ids] / temperature
    shift = temperature * (_logsumexp(before) - _logsumexp(after))
    out = steer.copy()
    out[ids] += np.float32(shift)
    return out


def mode_chord_pull(key: int, major: bool) -> np.ndarray:
    """``MODE_CHORD_PULL`` at every chord token with the mode's third (key + 4 or + 3) among its tones."""
    third = (key + (4 if major else 3)) % 12
    pull = np.zeros(len(T.VOCAB), dtype=np.float32)
    for root in range(12):
        for kind, steps in T.CHORD_KINDS.items():
            if any((root + step) % 12 == third for step in steps):
                pull[T.ID[f"CH_{root}_{kind}"]] = MODE_CHORD_PULL
    return pull


def _logsumexp(values: np.ndarray) -> float:
    top = float(values.max())
    return top + float(np.log(np.exp(values - top).sum()))
