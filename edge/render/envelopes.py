"""Amplitude and filter envelopes for whole notes, cached by note length.

Curves are evaluated exactly on a coarse grid (every ``STEP`` samples, 0.67 ms
at 48 kHz) and linearly interpolated to full rate: exponentials cost ten
times more per sample than arithmetic, and an envelope has nothing above a
few hundred hertz. Notes of the same patch and length (every 8th of a bass
line at one tempo) share one cached envelope.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from edge.render.patch import Patch

STEP = 32
"""Coarse grid in samples."""
MIN_ATTACK = 0.003
"""Seconds: faster starts click."""
MIN_RELEASE = 0.008
"""Seconds: faster ends click."""
MAX_NOTE_SECONDS = 12.0
"""Longest note including its release; longer ones are released early."""
SILENT = 1e-4
"""-80 dB: a decaying note is cut (with a ramp to zero) once it is this quiet."""


@dataclass(frozen=True)
class Envelope:
    """One note's envelopes at full rate, float32, all the note's length."""

    amp: np.ndarray
    """Amplitude, 0..1, ending in exact zero."""
    amp_sweep: np.ndarray | None
    """Amplitude times the filter envelope (how much of the bright spectrum); None if static."""
    sweep_mean: float
    """Average filter envelope over the note: the fixed brightness when the sweep is dropped."""


def _upsample(coarse: np.ndarray, n: int) -> np.ndarray:
    """Linear interpolation of a curve sampled every STEP samples, to ``n`` samples."""
    frac = np.arange(STEP, dtype=np.float32) * np.float32(1.0 / STEP)
    start = coarse[:-1, None].astype(np.float32)
    slope = np.diff(coarse)[:, None].astype(np.float32)
    return (start + slope * frac).ravel()[:n]


def _time_constant(seconds: float) -> float:
    """Exponential time constant that covers 95% of a move in ``seconds``."""
    return max(seconds, 1e-4) / 3.0


def amplitude_curve(patch: Patch, gate: float, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(times, levels) of the ADSR on the coarse grid, for a note held ``gate`` seconds.

    Linear attack, exponential decay to sustain, then from wherever the note was at
    note-off an exponential release shaped to reach exactly zero after ``release``.
    """
    attack = max(MIN_ATTACK, patch.attack)
    release = max(MIN_RELEASE, patch.release)
    gate = min(max(gate, 1.0 / sample_rate), MAX_NOTE_SECONDS - release)
    steps = math.ceil((gate + release) * sample_rate / STEP)
    t = np.arange(steps + 1) * (STEP / sample_rate)
    tau = _time_constant(patch.decay)

    def held(x: np.ndarray) -> np.ndarray:
        falling = patch.sustain + (1.0 - patch.sustain) * np.exp(-np.maximum(x - attack, 0.0) / tau)
        return np.where(x < attack, x / attack, falling)

    at_gate = float(held(np.array([gate]))[0])
    after = np.clip((t - gate) / release, 0.0, 1.0)
    released = at_gate * np.exp(-3.0 * after) * (1.0 - after)
    levels = np.where(t < gate, held(t), released)
    levels[-1] = 0.0
    loud = np.flatnonzero(levels > SILENT)
    if len(loud) and loud[-1] + 2 < len(levels):
        levels = levels[: loud[-1] + 2]  # died away before its release ended: stop computing it
        levels[-1] = 0.0
        t = t[: len(levels)]
    return t, levels


def sweep_curve(patch: Patch, t: np.ndarray) -> np.ndarray:
    """Filter envelope on the grid ``t``: 0 = dark spectrum, 1 = bright."""
    fall = np.full(len(t), patch.filter_sustain)
    if patch.filter_decay > 0:
        fall = fall + (1.0 - patch.filter_sustain) * np.exp(-t / _time_constant(patch.filter_decay))
    if patch.filter_attack > 0:
        fall = fall * (1.0 - np.exp(-t / _time_constant(patch.filter_attack)))
    return fall


class EnvelopeBank:
    """Envelopes per (voice, note length, static?), in an LRU bounded by bytes."""

    def __init__(self, sample_rate: int, budget_bytes: int = 4 << 20) -> None:
        self.sample_rate = sample_rate
        self.budget = budget_bytes
        self._held = 0
        self._cache: OrderedDict[tuple[int, int, bool], Envelope] = OrderedDict()

    def get(self, uid: int, patch: Patch, gate: int, sweep: bool) -> Envelope:
        """Envelopes for a note of ``patch`` held ``gate`` samples; ``sweep`` False drops the filter one."""
        key = (uid, gate, sweep)
        env = self._cache.get(key)
        if env is not None:
            self._cache.move_to_end(key)
            return env
        env = self._make(patch, gate, sweep)
        self._cache[key] = env
        self._held += env.amp.nbytes * (2 if sweep else 1)
        while self._held > self.budget and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._held -= old.amp.nbytes * (1 if old.amp_sweep is None else 2)
        return env

    def keep(self, uids: set[int]) -> None:
        """Forget the envelopes of every voice not in ``uids``."""
        for key in [key for key in self._cache if key[0] not in uids]:
            old = self._cache.pop(key)
            self._held -= old.amp.nbytes * (1 if old.amp_sweep is None else 2)

    def _make(self, patch: Patch, gate: int, sweep: bool) -> Envelope:
        t, levels = amplitude_curve(patch, gate / self.sample_rate, self.sample_rate)
        n = (len(levels) - 1) * STEP
        sweeps = sweep_curve(patch, t)
        held = t < gate / self.sample_rate
        mean = float(sweeps[held].mean()) if held.any() else float(sweeps[0])
        amp = _upsample(levels, n)
        amp_sweep = _upsample(levels * sweeps, n) if sweep else None
        return Envelope(amp, amp_sweep, mean)
