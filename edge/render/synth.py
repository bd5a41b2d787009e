"""The synth: notes in, stereo float32 blocks out.

Each note is rendered whole when its bar is scheduled (one bar ahead) and
added into a timeline ring of three stereo buses: dry, reverb send and delay
send. ``render`` slices the next block off the ring, runs the bus effects and
the limiter, and clears what it consumed. The per-note work is a handful of
array operations; the per-block work is a few dozen, whatever the polyphony.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from edge.music.events import Bar
from edge.render import ring
from edge.render.drums import DrumSamples
from edge.render.effects import Delay, Limiter, Reverb
from edge.render.patch import DEFAULT_PATCHES, DrumKit, Mix, Patch
from edge.render.voices import VoiceRenderer

RING_FRAMES = 1 << 20  # ~21.8 s at 48 kHz: one bar ahead plus the longest note and release
#: Effects run on chunks this long, ahead of playback: notes are already in the timeline one bar
#: ahead, so the sends are known. Long chunks amortise numpy's per-call cost over more samples.
EFFECT_CHUNK = 4096
_OUT_RING = 1 << 15
CROSSFADE_OUT_S = 1.0  # the old style's tail fades over this
CROSSFADE_IN_S = 0.25  # the new style rises over this from the bar line
#: Unison copies allowed per synth level (the thermal governor lightens the synth with it).
LEVEL_UNISON = {0: 1, 1: 2, 2: 4}


def _pan_gains(pan: float) -> np.ndarray:
    angle = (pan + 1.0) * np.pi / 4.0  # constant power
    return np.array([np.cos(angle), np.sin(angle)], dtype=np.float32)


class Synth:
    """Renders scheduled bars into blocks; deterministic for a seed and a sequence of calls."""

    def __init__(self, sample_rate: int = 48000, seed: int = 0, block_frames: int = 1024) -> None:
        self.sample_rate = sample_rate
        self.block_frames = block_frames
        self._rng = np.random.default_rng(seed)
        self._voices = VoiceRenderer(sample_rate, self._rng)
        # Buses are (channels, frames) so every note adds into contiguous memory.
        self._dry = np.zeros((2, RING_FRAMES), dtype=np.float32)
        self._sends = np.zeros((2, RING_FRAMES), dtype=np.float32)  # reverb and delay sends are mono
        self._out = np.zeros((2, _OUT_RING), dtype=np.float32)
        self._frame = 0
        self._processed = 0
        self.lookahead_frames = EFFECT_CHUNK
        self._reverb = Reverb(sample_rate)
        self._delay = Delay(sample_rate)
        self._limiter = Limiter(sample_rate)
        self._patches: dict[str, Patch] = dict(DEFAULT_PATCHES)
        self._kit: DrumSamples | None = None
        self._kit_params: DrumKit | None = None
        self._mix = Mix()
        self._pending_mix: list[tuple[int, Mix, float]] = []  # (frame, mix, tempo) applied on arrival
        self._reverb_level = np.float32(self._mix.reverb_level)
        self._crossfade_next = False
        self._level = 2
        self._drum_hits = 0
        self._scheduled = False

    @property
    def frame(self) -> int:
        """Frames rendered so far."""
        return self._frame

    @property
    def level(self) -> int:
        """The synth load level, 0 (lightest) .. 2 (full)."""
        return self._level

    def set_level(self, level: int) -> None:
        """0: one oscillator per note, no reverb; 1: two, reverb; 2: everything. Changes fade in and out."""
        self._level = int(min(2, max(0, level)))

    def set_sound(self, patches: Mapping[str, Patch], kit: DrumKit | None, mix: Mix) -> None:
        """A new sound world for bars scheduled from now on; the old one crossfades out."""
        self._patches = dict(patches)
        if kit is not None and kit != self._kit_params:
            self._kit = DrumSamples(kit, self.sample_rate, self._rng)
            self._kit_params = kit
        elif kit is None:
            self._kit = None
            self._kit_params = None
        self._next_mix = mix
        self._crossfade_next = self._scheduled

    def schedule(self, bar: Bar, start_frame: int) -> int:
        """Render ``bar``'s notes into the timeline from ``start_frame``; return the frame where it ends."""
        seconds_per_beat = 60.0 / bar.plan.tempo
        end_frame = start_frame + round(bar.plan.beats * seconds_per_beat * self.sample_rate)
        mix = getattr(self, "_next_mix", self._mix)
        self._pending_mix.append((start_frame, mix, bar.plan.tempo))
        if self._crossfade_next:
            self._fade_out_from(start_frame)
        fade_in = self._crossfade_next
        self._crossfade_next = False
        self._scheduled = True
        unison = LEVEL_UNISON[self._level]
        energy = bar.plan.energy
        for note in bar.notes:
            frame = start_frame + round(note.onset * seconds_per_beat * self.sample_rate)
            if note.track == "drums":
                self._drum(note.pitch, note.velocity, frame, start_frame, fade_in)
                continue
            patch = self._patches.get(note.track)
            if patch is None:
                continue
            held = note.duration * seconds_per_beat
            samples = self._voices.note(patch, note.pitch, note.velocity, held, energy, unison)
            self._add(samples, frame, patch.level, patch.pan, patch.reverb, patch.delay, start_frame, fade_in)
        return end_frame

    def _drum(self, pitch: int, velocity: int, frame: int, bar_start: int, fade_in: bool) -> None:
        if self._kit is None:
            return
        sample = self._kit.hit(pitch, self._drum_hits)
        self._drum_hits += 1
        if sample is None:
            return
        kit = self._kit.kit
        gain = (velocity / 127.0) ** 1.5
        pan = self._kit.pan.get(pitch, 0.0)
        self._add(sample * np.float32(gain), frame, kit.level, pan, kit.reverb, kit.delay, bar_start, fade_in)

    def _add(
        self,
        mono: np.ndarray,
        frame: int,
        level: float,
        pan: float,
        reverb: float,
        delay: float,
        bar_start: int,
        fade_in: bool,
    ) -> None:
        if fade_in:
            rise = int(CROSSFADE_IN_S * self.sample_rate)
            offsets = frame - bar_start + np.arange(len(mono), dtype=np.float32)
            mono = mono * np.clip(offsets / rise, 0.0, 1.0)
        gains = _pan_gains(pan) * np.float32(level)
        ring.add(self._dry[0], frame, mono * gains[0])
        ring.add(self._dry[1], frame, mono * gains[1])
        for bus, amount in ((0, reverb), (1, delay)):
            if amount > 0:
                ring.add(self._sends[bus], frame, mono * np.float32(level * amount))

    def _fade_out_from(self, frame: int) -> None:
        """Fade whatever is already scheduled from ``frame`` on: the old style's tail."""
        ahead = RING_FRAMES - (frame - self._frame)  # ring frames not yet played, from ``frame`` on
        length = min(int(CROSSFADE_OUT_S * self.sample_rate), ahead)
        ramp = np.linspace(1.0, 0.0, length, dtype=np.float32)[:, None]
        idx = (frame + np.arange(ahead)) % RING_FRAMES
        head, tail = idx[:length], idx[length:]
        self._dry[:, head] *= ramp[:, 0]
        self._dry[:, tail] = 0.0
        self._sends[:, head] *= ramp[:, 0]
        self._sends[:, tail] = 0.0

    def _apply_mix_changes(self, upto: int) -> None:
        while self._pending_mix and self._pending_mix[0][0] <= upto:
            _, mix, tempo = self._pending_mix.pop(0)
            if mix != self._mix:
                self._reverb.configure(mix)
                self._delay.feedback = np.float32(mix.delay_feedback)
                self._mix = mix
            self._delay.set_time(mix.delay_beats * 60.0 / tempo)

    def render(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames, stereo float32 in -1..1.

        The caller must have scheduled bars up to ``frame + frames + lookahead_frames``.
        """
        while self._processed < self._frame + frames:
            self._process_chunk(EFFECT_CHUNK)
        block = ring.read(self._out, self._frame, frames).T
        self._frame += frames
        return np.ascontiguousarray(block)

    def _process_chunk(self, frames: int) -> None:
        """Effects, master gain and limiter for the next chunk of the timeline."""
        self._apply_mix_changes(self._processed)
        out = ring.take(self._dry, self._processed, frames).T  # (frames, 2)
        reverb_send, delay_send = ring.take(self._sends, self._processed, frames)
        mix = self._mix
        echoes = self._delay.process(delay_send)
        out += echoes * np.float32(mix.delay_level)
        # The reverb keeps running at level 0 so its tail fades instead of stopping dead.
        target = np.float32(mix.reverb_level if self._level > 0 else 0.0)
        ramp = np.linspace(self._reverb_level, target, frames, dtype=np.float32)[:, None]
        self._reverb_level = target
        wet = self._reverb.process(reverb_send + (echoes[:, 0] + echoes[:, 1]) * np.float32(0.15))
        out += wet * ramp
        out *= np.float32(mix.master)
        ring.write(self._out, self._processed, np.ascontiguousarray(self._limiter.process(out).T))
        self._processed += frames
