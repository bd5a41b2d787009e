"""Tonal notes: a cached oscillator loop times a cached envelope, rendered whole.

A note is ``fill(dark) * amp + fill(bright - dark) * amp * sweep``: two loop
copies, two multiplies and an add over its samples, whatever the patch. The
bar's energy moves the mix toward the bright loop (on the short loops, not
per sample). Light synth levels drop unison copies, stereo and the filter
sweep, which removes whole passes over the samples.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

import numpy as np

from edge.render.envelopes import EnvelopeBank
from edge.render.oscillators import LoopBank, Loops, Voice, add_loop, fill, multiply_loop
from edge.render.patch import Patch
from edge.render.ring import PIECE
from edge.render.scratch import work_array

#: Per synth level: (most unison copies, stereo unison, filter sweep).
PREPARED_BYTES = 2 << 20
"""Memory for loops prepared at a given brightness."""
PREPARED_MAX_PERIOD = 16384
"""Only loops up to this long are kept prepared (short notes, where preparing would dominate)."""
LEVELS: dict[int, tuple[int, bool, bool]] = {0: (1, False, False), 1: (2, False, True), 2: (7, True, True)}


class VoiceRenderer:
    """Renders notes of any patch; deterministic for its seed and the generator it is handed."""

    def __init__(self, sample_rate: int, seed: int) -> None:
        self.sample_rate = sample_rate
        self.loops = LoopBank(sample_rate, seed)
        self.envelopes = EnvelopeBank(sample_rate)
        self._voices: dict[Patch, Voice] = {}
        self._next_uid = 0
        self._prepared_loops: OrderedDict[tuple, tuple] = OrderedDict()
        self._prepared_bytes = 0
        #: Samples written by note rendering (channels x passes): a measure of work done.
        self.work = 0

    def voice(self, patch: Patch) -> Voice:
        """The compiled form of ``patch`` (spectra computed once per distinct patch)."""
        voice = self._voices.get(patch)
        if voice is None:
            if len(self._voices) > 64:  # a long session visits many styles: forget old patches
                self._voices.clear()
                self.loops.clear()
                self._prepared_loops.clear()
                self._prepared_bytes = 0
            self._next_uid += 1  # uids key the caches and seed the phases: deterministic, never reused
            voice = self._voices[patch] = Voice(patch, uid=self._next_uid)
        return voice

    def keep(self, voices: Iterable[Voice]) -> None:
        """Only ``voices`` play from now on (a new sound): drop the other voices' cached loops,
        envelopes and spectra. A cache is only a cache: a voice that comes back gets the same
        loops, rebuilt."""
        uids = {voice.uid for voice in voices}
        for voice in self._voices.values():
            if voice.uid not in uids:
                voice.forget()
        self.loops.keep(uids)
        self.envelopes.keep(uids)
        for key in [key for key in self._prepared_loops if key[0] not in uids]:
            self._prepared_bytes -= sum(a.nbytes for a in self._prepared_loops.pop(key) if a is not None)

    def rest(self) -> None:
        """Nothing plays for a while: drop every cached loop and envelope (they come back, the
        same, with the next notes). The work arrays are the thread's (``edge.render.scratch``)."""
        self.keep(())

    def _prepared(self, voice: Voice, key: tuple, loop: Loops, weight: float, sweep: bool) -> tuple:
        """(base, bright) loops for a brightness ``weight``: the note is base * amp + bright * amp_sweep.

        With a sweep, base = dark + weight * diff and bright = (1 - weight) * diff; without,
        base = dark + weight * diff alone. Cached: the energy, hence the weight, holds for a bar.
        """
        step = round(weight * 64)  # 1/64 steps of brightness are inaudible
        cache_key = (*key, sweep, step)
        prepared = self._prepared_loops.get(cache_key)
        if prepared is not None:
            self._prepared_loops.move_to_end(cache_key)
            return prepared
        weight = step / 64.0
        if loop.diff is None:
            prepared = (loop.dark, None)
        elif sweep:
            base = loop.dark + np.float32(weight) * loop.diff if weight > 0 else loop.dark
            prepared = (base, loop.diff * np.float32(1.0 - weight) if weight > 0 else loop.diff)
        else:
            prepared = (loop.dark + np.float32(weight) * loop.diff, None)
        if loop.period > PREPARED_MAX_PERIOD:
            return prepared  # long loops play long notes: preparing them again is a small share
        self._prepared_loops[cache_key] = prepared
        self._prepared_bytes += sum(a.nbytes for a in prepared if a is not None)
        while self._prepared_bytes > PREPARED_BYTES and len(self._prepared_loops) > 1:
            _, old = self._prepared_loops.popitem(last=False)
            self._prepared_bytes -= sum(a.nbytes for a in old if a is not None)
        return prepared

    @staticmethod
    def _scratch(channels: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """A reusable (channels, n) output and a (channels, PIECE) work array, the thread's own
        (``edge.render.scratch``: every synth in the thread uses the same two).

        Reused because fresh large arrays cost page faults on every note; the work array is
        short because the bright half of a note is computed a piece at a time.
        """
        out = work_array("note", 2, n)
        return out[:channels, :n], work_array("note piece", 2, PIECE)[:channels, :PIECE]

    def render(
        self,
        voice: Voice,
        notes: list[tuple[int, float]],
        gate: int,
        energy: float,
        level: int,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Samples (channels, n) of notes that start together and last ``gate`` samples.

        ``notes`` are (MIDI pitch, relative amplitude). A chord shares one envelope, so its loops
        are summed first and the envelopes applied once: a 4-note pad chord costs little more
        than one note. The result is a view of the thread's work array, valid until the next note
        any synth renders in this thread.
        """
        patch = voice.patch
        most, stereo, sweep = LEVELS[level]
        copies = max(1, min(patch.unison, most))
        stereo = stereo and copies > 1 and patch.width > 0
        sweep = sweep and voice.sweeps
        opened = patch.brightness * float(min(1.0, max(0.0, energy)))
        env = self.envelopes.get(voice.uid, patch, gate, sweep)
        # Without a sweep the filter sits at the note's average brightness.
        weight = opened if sweep else opened + (1.0 - opened) * env.sweep_mean
        n = len(env.amp)
        bases, brights, offsets = [], [], []
        for pitch, amp in notes:
            pitch = int(min(127, max(0, pitch + 12 * patch.octave)))
            loop = self.loops.get(voice, pitch, copies, stereo)
            offsets.append(int(rng.integers(loop.period)))  # each note starts at its own point of its loop
            base, bright = self._prepared(voice, (voice.uid, pitch, copies, stereo), loop, weight, sweep)
            if amp != 1.0:  # on the loop: cheaper than on the note when the loop is shorter
                base = base * np.float32(amp)
                bright = None if bright is None else bright * np.float32(amp)
            bases.append(base)
            brights.append(bright)
        sweep = sweep and brights[0] is not None
        out, tmp = self._scratch(bases[0].shape[0], n)
        if len(notes) == 1:
            multiply_loop(bases[0], offsets[0], env.amp, out)
        else:
            fill(bases[0], offsets[0], n, out)
            for base, offset in zip(bases[1:], offsets[1:], strict=True):
                add_loop(base, offset, out)
            out *= env.amp
        passes = len(notes) + (len(notes) > 1)
        if sweep:
            assert env.amp_sweep is not None
            # out += sum(bright loops) * amp_sweep, a cache-sized piece at a time.
            for start in range(0, n, PIECE):
                size = min(PIECE, n - start)
                piece = tmp[:, :size]
                sweep_env = env.amp_sweep[start : start + size]
                if len(notes) == 1:
                    multiply_loop(brights[0], offsets[0] + start, sweep_env, piece)
                else:
                    fill(brights[0], offsets[0] + start, size, piece)
                    for bright, offset in zip(brights[1:], offsets[1:], strict=True):
                        add_loop(bright, offset + start, piece)
                    piece *= sweep_env
                out[:, start : start + size] += piece
            passes += len(notes) + 1
        self.work += n * out.shape[0] * passes
        return out
