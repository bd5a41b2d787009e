"""The synth: bars in, stereo float32 blocks out.

``schedule`` renders every note of a bar whole, when the bar is scheduled
(one bar ahead of playback), and mixes it into a timeline ring of four buses:
dry left/right, reverb send, delay send. ``render`` takes the next chunk off
the ring, runs the reverb and the tempo-synced delay on the sends, then the
master limiter, and clears what it consumed. A note costs a handful of array
operations over its samples (see voices.py); a chunk costs a few dozen array
operations whatever the polyphony. Chunks are up to ``effect_chunk`` frames when
bars are scheduled that far ahead (``lookahead_frames``), else one block.

Style changes (``set_sound``) crossfade: everything already scheduled from the
next bar line on fades out over ``Mix.crossfade`` seconds, the new sound's
notes fade in, the old effects keep ringing (fed nothing new) while fading,
and the mix levels glide (the master gain too, from one pack's loudness calibration to the
next, so a style change never jumps in loudness). Load-level changes (``set_level``) apply to notes
scheduled afterwards and ramp the reverb in or out over a block.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

import numpy as np

from edge.music.events import CLOSED_HAT, OPEN_HAT, Bar, Note
from edge.render import scratch
from edge.render.drums import DrumSamples
from edge.render.effects import Delay, Reverb, unit_ramp
from edge.render.master import REFERENCE_LUFS, Glide, Master
from edge.render.oscillators import Voice
from edge.render.patch import DEFAULT_TRACK_PATCHES, DrumKit, Mix, Patch
from edge.render.ring import DELAY, REVERB, Timeline
from edge.render.sampled import Sampled, SampledBank, SampledVoice
from edge.render.voices import VoiceRenderer

RING_FRAMES = 1 << 20
"""Timeline length (~21.8 s at 48 kHz): a bar ahead plus the longest note and its release. Only the
part between playback and the last note written takes memory (``Timeline.consumed``)."""
EFFECT_CHUNK = 2048
"""Longest chunk the effects and the limiter process at once (when the schedule reaches that far),
in the daemon: a chunk is processed ahead of playback, so a longer one is a longer burst of work."""
OFFLINE_CHUNK = 8192
"""The same for a file rendered offline (``reimagine``): a chunk costs a few dozen array operations
whatever its length, and a longer one makes a 10-minute piece a fifth cheaper (docs/benchmarks.md)."""
RAMP_IN = 1024
"""Frames over which an effect started mid-stream fades its input in."""
CHOKE_S = 0.004
"""A closed hat cuts an open one off over this long."""


def velocity_gain(velocity: int, sensitivity: float) -> float:
    """Amplitude for a MIDI velocity: (v/127)^(2 x sensitivity)."""
    return (max(1, min(127, velocity)) / 127.0) ** (2.0 * sensitivity)


def _pan(pan: float) -> tuple[float, float]:
    """Constant-power gains; the centre is -3 dB on each side."""
    angle = (max(-1.0, min(1.0, pan)) + 1.0) * np.pi / 4.0
    return float(np.cos(angle)), float(np.sin(angle))


def _reverb_keys(mix: Mix) -> tuple[float, ...]:
    return (mix.reverb_size, mix.reverb_decay, mix.reverb_damping)


def _delay_keys(mix: Mix) -> tuple[float, ...]:
    return (mix.delay_beats, mix.delay_feedback, mix.delay_damping, mix.delay_pingpong)


class _Fading:
    """An effect from the previous sound, ringing out while its output fades."""

    def __init__(self, effect: Reverb | Delay, bus: int, level: float, frames: int) -> None:
        self.effect, self.bus, self.level = effect, bus, level
        self.left = self.total = max(1, frames)
        self.first = True


class Synth:
    """Renders scheduled bars into blocks; deterministic for a seed and a sequence of calls."""

    lookahead_frames: int
    """Frames a caller should schedule beyond what it renders: effects then run on chunks this long
    (fewer, larger array operations). Not required: with less, effects run block by block."""

    def __init__(
        self, sample_rate: int = 48000, seed: int = 0, block_frames: int = 1024,
        loudness_lufs: float = REFERENCE_LUFS, effect_chunk: int = EFFECT_CHUNK,
    ) -> None:  # fmt: skip
        """``loudness_lufs``: the integrated loudness (BS.1770) every calibrated pack plays at;
        ``effect_chunk``: the longest chunk of effects at once (EFFECT_CHUNK, or OFFLINE_CHUNK)."""
        self.effect_chunk = self.lookahead_frames = max(1, int(effect_chunk))
        self.sample_rate = sample_rate
        self.block_frames = max(1, int(block_frames))
        self._seed = int(seed)
        self._rng = np.random.default_rng(self._seed)
        self._voices = VoiceRenderer(sample_rate, self._seed)
        self._timeline = Timeline(RING_FRAMES)
        self._frame = 0  # frames returned by render()
        self._processed = 0  # frames taken off the timeline through the effects (>= _frame)
        self._out = np.zeros((4 * self.effect_chunk, 2), dtype=np.float32)  # processed, not yet returned
        self._out_start = 0
        self._scheduled_end = 0
        self._started = False
        self._level = 2
        self._tracks: dict[str, Voice] = {}
        self._sampler = SampledBank(sample_rate)
        self._sampled: dict[str, SampledVoice] = {}
        self._wanted: dict[str, Sampled] = {}  # the current sound's sampled instruments
        self._where = ""  # the current sound's name, for the log
        self._resting = False
        self._kits: dict[DrumKit, DrumSamples] = {}
        self._kit_params: DrumKit | None = None
        self._mix = Mix()
        self._tempo = 120.0
        self._tempos: deque[tuple[int, float]] = deque()
        self._levels: deque[tuple[int, float]] = deque()  # (frame, the listener's energy) per bar
        self._switches: deque[tuple[int, Mix, int]] = deque()
        self._fade_in: tuple[int, int] | None = None
        self._fading: list[_Fading] = []
        self._reverb_on = Glide(1.0)
        self._reverb_level = Glide(self._mix.reverb_level)
        self._delay_level = Glide(self._mix.delay_level)
        self._ramp_in = {REVERB: True, DELAY: True}
        self._reverb = Reverb(sample_rate, self._mix)
        self._delay = Delay(sample_rate, self._mix, self._tempo)
        self._master = Master(sample_rate, self._seed, self._mix, loudness_lufs)
        self._fx_work = 0
        self._fx_mix: Mix | None = None
        self.set_sound(DEFAULT_TRACK_PATCHES, DrumKit(), self._mix)

    @property
    def frame(self) -> int:
        """Frames rendered so far."""
        return self._frame

    @property
    def level(self) -> int:
        """The synth load level, 0 (lightest) .. 2 (full)."""
        return self._level

    @property
    def work(self) -> int:
        """Samples computed so far by notes and effects: a load measure that does not depend on timing."""
        return self._voices.work + self._fx_work + self._sampler.work

    @property
    def sampled_tracks(self) -> tuple[str, ...]:
        """Tracks of the current sound played by a SoundFont preset (the others by their patch)."""
        return tuple(self._sampled)

    def set_level(self, level: int) -> None:
        """Synth load level 0 (one oscillator per note, no stereo unison, fixed filter, no reverb),
        1 (up to two mono copies, reverb) or 2 (everything). Notes scheduled afterwards use it;
        the reverb fades out or in over one block, so changes never click."""
        level = int(min(2, max(0, level)))
        if level == self._level:
            return
        self._level = level
        self._reverb_on.to(1.0 if level >= 1 else 0.0, self.block_frames)

    def set_sound(self, patches: Mapping[str, Patch], kit: DrumKit | None, mix: Mix, name: str = "") -> None:
        """New sound world (style change) for bars scheduled afterwards.

        ``patches`` maps track names to patches (tracks without one are silent); ``kit`` None
        means no drums. What is already scheduled from the next bar line on fades out over
        ``mix.crossfade`` seconds while the new sound fades in: a crossfade, never a click.
        A patch with a ``sampled`` preset plays it when its SoundFont and FluidSynth are
        installed, else the patch itself (one log line naming ``name``, the style, and the track).
        """
        self._tracks = {track: self._voices.voice(patch) for track, patch in patches.items()}
        self._voices.keep(self._tracks.values())  # the old sound's notes are all rendered: its caches go
        scratch.let_go()  # and the work arrays as long as its longest note (ambient's are seconds long)
        self._wanted = {track: patch.sampled for track, patch in patches.items() if patch.sampled is not None}
        self._where = f"style {name!r} " if name else ""
        self._sampled = self._sampler.voices(self._wanted, self._where)
        self._resting = False
        self._kit_params = kit  # rendered on its first hit: a style without drums never pays for it
        self._mix = mix
        if not self._started:
            self._install(mix, glide=0)
            return
        at = max(self._scheduled_end, self._processed)
        frames = max(1, round(mix.crossfade * self.sample_rate))
        self._timeline.fade_out(at, frames, self._processed)
        self._fade_in = (at, max(1, frames // 2))
        self._switches.append((at, mix, frames))

    def rest(self) -> None:
        """Nothing will be scheduled for a while (a library track plays instead): give back what
        the caches hold (oscillator loops, envelopes, drum samples, the hiss loop, the FluidSynth
        instances and their samples). The next bar scheduled brings back what it needs, the same:
        its samples are those it would have had (what is already scheduled plays on untouched)."""
        self._voices.rest()
        self._sampler.close()
        self._kits.clear()  # rendered again, the same, at the next hit
        self._master.rest()
        scratch.let_go()  # this thread's note arrays: the synth playing now brings back what it needs
        self._resting = True

    def _install(self, mix: Mix, glide: int) -> None:
        """Effects and levels for ``mix``: unchanged effects carry on; changed ones ring out, fading
        over ``glide`` frames, while fresh ones start (their input ramped in); levels glide."""
        current = self._fx_mix
        if current is None or _reverb_keys(current) != _reverb_keys(mix):
            if glide > 0 and not self._reverb.idle:
                self._fading.append(_Fading(self._reverb, REVERB, self._reverb_level.value, glide))
            self._reverb = Reverb(self.sample_rate, mix)
            self._ramp_in[REVERB] = True
        if current is None or _delay_keys(current) != _delay_keys(mix):
            if glide > 0 and not self._delay.idle:
                self._fading.append(_Fading(self._delay, DELAY, self._delay_level.value, glide))
            self._delay = Delay(self.sample_rate, mix, self._tempo)
            self._ramp_in[DELAY] = True
        if not self._started:
            self._ramp_in = {REVERB: False, DELAY: False}  # nothing is playing yet: nothing to click
        self._reverb_level.to(mix.reverb_level, glide)
        self._delay_level.to(mix.delay_level, glide)
        self._master.configure(mix, glide)
        self._fx_mix = mix

    def schedule(self, bar: Bar, start_frame: int) -> int:
        """Render every note of ``bar`` into the timeline from ``start_frame``; return where the bar ends.

        Tempo is ``bar.plan.tempo``; the note's track picks the patch (tracks with none are
        skipped); ``bar.plan.energy`` opens the filters of patches with ``brightness``.
        """
        plan = bar.plan
        if self._resting:  # the sampled instruments closed by rest(): the same ones again
            self._sampled = self._sampler.voices(self._wanted, self._where)
            self._resting = False
        per_beat = 60.0 * self.sample_rate / plan.tempo
        end = start_frame + round(plan.beats * per_beat)
        self._tempos.append((start_frame, plan.tempo))
        if not self._levels or self._levels[-1][1] != plan.listener_energy:
            self._levels.append((start_frame, plan.listener_energy))
        self._started = True
        hats = sorted(
            start_frame + round(n.onset * per_beat)
            for n in bar.notes
            if n.track == "drums" and n.pitch in (CLOSED_HAT, OPEN_HAT)
        )
        chords: dict[tuple[str, int, int], list[Note]] = {}
        for note in bar.notes:
            at = start_frame + round(note.onset * per_beat)
            if note.track == "drums":
                self._drum(note, at, hats)
            elif note.track in self._tracks:
                gate = max(1, round(note.duration * per_beat))
                chords.setdefault((note.track, at, gate), []).append(note)
        for (track, at, gate), group in chords.items():
            voice = self._tracks[track]
            patch = voice.patch
            sampled = self._sampled.get(track)
            if sampled is not None:  # FluidSynth's velocity layers shape loudness and timbre
                shift = 12 * patch.octave
                data = self._sampler.render(sampled, [(n.pitch + shift, n.velocity) for n in group], gate)
                self._mix_in(at, data, self._gains(patch, sampled.gain, 2), owned=False)
                continue
            loudest = max(velocity_gain(n.velocity, patch.velocity_sens) for n in group)
            notes = [(n.pitch, velocity_gain(n.velocity, patch.velocity_sens) / loudest) for n in group]
            data = self._voices.render(voice, notes, gate, plan.energy, self._level, self._rng)
            self._mix_in(at, data, self._gains(patch, loudest, data.shape[0]), owned=True)
        self._scheduled_end = max(self._scheduled_end, end)
        if self._fade_in is not None and end >= sum(self._fade_in):
            self._fade_in = None  # bars come in order: the new sound is fully in
        return end

    def _gains(self, patch: Patch, loudness: float, channels: int) -> np.ndarray:
        """(4 buses, channels) gains of a note: level, velocity gain ``loudness``, pan, sends."""
        amp = patch.level * loudness
        if channels == 1:
            left, right = _pan(patch.pan)
            gains = np.array([[left], [right], [patch.reverb], [patch.delay]], dtype=np.float32)
            return gains * np.float32(amp)
        # A stereo note is already spread: pan acts as balance, centre matching a mono note's level.
        left = min(1.0, 1.0 - patch.pan) * np.sqrt(0.5)
        right = min(1.0, 1.0 + patch.pan) * np.sqrt(0.5)
        gains = [[left, 0.0], [0.0, right], [patch.reverb / 2] * 2, [patch.delay / 2] * 2]
        return np.array(gains, dtype=np.float32) * np.float32(amp)

    def _drum_samples(self) -> DrumSamples | None:
        """The current kit's samples, rendered on first use and kept for the last few kits."""
        kit = self._kit_params
        if kit is None:
            return None
        samples = self._kits.get(kit)
        if samples is None:
            if len(self._kits) >= 4:
                self._kits.pop(next(iter(self._kits)))
            samples = self._kits[kit] = DrumSamples(kit, self.sample_rate, self._seed)
        return samples

    def _drum(self, note: Note, at: int, hats: list[int]) -> None:
        samples = self._drum_samples()
        if samples is None:
            return
        kit = samples.kit
        sample = samples.hit(note.pitch, int(self._rng.integers(1 << 16)))
        wobble = float(self._rng.uniform(-1.0, 1.0))
        if sample is None:
            return
        if note.pitch == OPEN_HAT:
            later = [h for h in hats if h > at]
            if later and later[0] - at < len(sample):
                # The next hat closes this one: cut with a short fade, as a real hi-hat chokes.
                sample = sample[: later[0] - at].copy()
                fade = min(len(sample), max(1, round(CHOKE_S * self.sample_rate)))
                sample[-fade:] *= 1.0 - unit_ramp(fade)
        gain = kit.level * self._mix.drum_level * velocity_gain(note.velocity, 0.8)
        gain *= 1.0 + 0.3 * kit.humanize * wobble
        left, right = _pan(samples.pan[note.pitch])
        gains = np.array([[left], [right], [kit.reverb], [kit.delay]], dtype=np.float32) * np.float32(gain)
        self._mix_in(at, sample[None, :], gains, owned=False)

    def _mix_in(self, at: int, data: np.ndarray, gains: np.ndarray, owned: bool) -> None:
        """Add a note to the timeline, fading it in if it starts inside a style change's crossfade."""
        if self._fade_in is not None:
            start, length = self._fade_in
            n = data.shape[1]
            if not (at + n <= start or at >= start + length):
                if not owned:
                    data = data.copy()
                first = max(0, start - at)
                last = min(n, start + length - at)
                position = (np.arange(at + first, at + last) - start + 1) / length
                data[:, first:last] *= np.sin(0.5 * np.pi * position).astype(np.float32)
                data[:, :first] = 0.0
        self._timeline.add(at, self._processed, data, gains)

    def render(self, frames: int) -> np.ndarray:
        """Next ``frames`` frames as float32 (frames, 2): effects and soft limiter applied, |x| <= 1."""
        end = self._frame + frames
        ready = self._processed - self._frame
        needed = ready + frames + self.effect_chunk  # a chunk may run up to effect_chunk past ``end``
        if self._out_start + needed > len(self._out):
            # Keep the processed-but-unreturned frames at the front, with room for what comes.
            kept = self._out[self._out_start : self._out_start + ready].copy()
            if needed > len(self._out):
                self._out = np.zeros((2 * needed, 2), dtype=np.float32)
            self._out[:ready] = kept
            self._out_start = 0
        while self._processed < end:
            self._process(end)
        block = self._out[self._out_start : self._out_start + frames].copy()
        self._out_start += frames
        self._frame = end
        return block

    def _process(self, needed: int) -> None:
        """Run the next chunk of the timeline through effects and master into the output buffer.

        Chunks run ahead of ``needed`` (up to effect_chunk) only as far as bars are scheduled,
        so a caller scheduling just in time never has notes cut. A chunk longer than the daemon's
        (``_grid``) is cut to a whole number of them.
        """
        while self._switches and self._switches[0][0] <= self._processed:
            _, mix, glide = self._switches.popleft()
            self._install(mix, glide)
        at = self._processed
        n = min(self.effect_chunk, self._timeline.frames_to_wrap(at), max(needed, self._scheduled_end) - at)
        n = min(n, self._delay.max_chunk)
        n = min(n, *(f.effect.max_chunk for f in self._fading)) if self._fading else n
        if self._switches:
            n = min(n, self._switches[0][0] - at)
        while self._levels and self._levels[0][0] <= at:
            self._master.level(self._levels.popleft()[1])
        if self._levels:
            n = min(n, self._levels[0][0] - at)
        grid = self._grid()
        if n > grid:  # up to the next boundary, the daemon would take whole grid chunks
            n -= n % grid
        write = self._out_start + at - self._frame
        self._chunk(n, self._out[write : write + n], grid)
        self._processed += n
        self._timeline.consumed(self._processed)

    def _grid(self) -> int:
        """The daemon's chunk: whole pieces of the reverb's loop up to EFFECT_CHUNK (EFFECT_CHUNK when
        one piece is longer). A longer chunk is a whole number of them, and the master (leveller,
        limiter) takes it one at a time: an offline render is limited as the daemon limits, not
        with a longer look-ahead."""
        piece = self._reverb.piece
        return EFFECT_CHUNK - EFFECT_CHUNK % piece if piece < EFFECT_CHUNK else EFFECT_CHUNK

    def _send(self, bus: np.ndarray, which: int, n: int) -> np.ndarray:
        """A send bus; for an effect started mid-stream, ramped in over RAMP_IN so it starts without
        a click (its input may begin in the middle of a held note)."""
        if self._ramp_in[which]:
            self._ramp_in[which] = False
            length = min(n, RAMP_IN)
            bus = bus.copy()
            bus[:length] *= unit_ramp(length)
        return bus

    def _chunk(self, n: int, out: np.ndarray, grid: int) -> None:
        """Effects, master and limiter for the next ``n`` frames of the timeline, into ``out``; the
        master takes them ``grid`` frames at a time (``_grid``)."""
        while self._tempos and self._tempos[0][0] <= self._processed:
            self._tempo = self._tempos.popleft()[1]
            self._delay.set_tempo(self._tempo)
        buses = self._timeline.view(self._processed, n)
        mixed = buses[:2].copy()
        on0, on1 = self._reverb_on.step(n)
        level0, level1 = self._reverb_level.step(n)
        if on0 > 0 or on1 > 0:
            wet = self._reverb.process(self._send(buses[REVERB], REVERB, n), n, (on0 * level0, on1 * level1))
            if wet is not None:
                mixed += wet
                self._fx_work += 8 * n
        elif not self._reverb.idle:
            self._reverb.reset()  # fully faded out at level 0: start clean when it comes back
            self._ramp_in[REVERB] = True
        level0, level1 = self._delay_level.step(n)
        wet = self._delay.process(self._send(buses[DELAY], DELAY, n), n, (level0, level1))
        if wet is not None:
            mixed += wet
            self._fx_work += 2 * n
        for fading in list(self._fading):
            send = None
            if fading.first:  # the old effect's input fades out as the new one's fades in
                send = buses[fading.bus] * (1.0 - unit_ramp(n))
                fading.first = False
            start = fading.left / fading.total * fading.level
            fading.left -= n
            end = max(0, fading.left) / fading.total * fading.level
            wet = fading.effect.process(send, n, (start, end))
            if wet is not None:
                mixed += wet
            if fading.left <= 0 or wet is None:
                self._fading.remove(fading)
        self._timeline.clear(self._processed, n)
        for at in range(0, n, grid):
            self._master.process(mixed[:, at : at + grid], out[at : at + grid])
