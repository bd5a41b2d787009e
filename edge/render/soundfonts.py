"""SoundFonts (SF2/SF3): where they are found, and FluidSynth playing one, offline, chord by chord.

FluidSynth runs driven by our own note events (no audio driver, no thread, its
reverb and chorus off: a sampled track goes through the synth's own sends,
effects and master like any other track). Like the synth, a chord is rendered
whole when its bar is scheduled: note-on at frame 0 of a silent synth, note-off
after the gate, then the release until FluidSynth has no voice left. Every call
starts and ends on FluidSynth's 64-frame block boundary and each synth is warmed
up with a throw-away chord that takes every one of its voices (the first note a
FluidSynth voice plays differs by a small ramp from its later ones), so a note's
samples depend only on the note: renders are byte identical whatever came
before, in this instance or another. FluidSynth loads a preset's samples only when it is
selected (``synth.dynamic-sample-loading``); they are freed with the instance,
which ``edge.render.sampled`` keeps for one sound's presets.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge.render.scratch import work_array
from edge.state import state_dir

BLOCK = 64
"""FluidSynth's internal block (FLUID_BUFSIZE): every render call is a whole number of these."""
TAIL_S = 4.0
"""Longest release rendered after a note-off (by default); a longer tail is faded out over FADE_S."""
FADE_S = 0.05
"""Fade applied where a release is cut at TAIL_S."""
CHANNELS = 16
"""MIDI channels per FluidSynth instance: one preset each."""
POLYPHONY = 64
"""FluidSynth voices per instance (a sampled note takes one or two per layer)."""
SUFFIXES = (".sf2", ".sf3")
"""SoundFont file name endings found by the search."""


def soundfont_dirs(env: dict[str, str] | None = None) -> tuple[Path, ...]:
    """Folders searched for a SoundFont named without a folder, in order."""
    env = dict(os.environ) if env is None else env
    home = Path(env.get("HOME", str(Path.home())))
    return (
        state_dir(env) / "soundfonts",
        home / ".local" / "share" / "soundfonts",
        Path("/usr/share/sounds/sf2"),
        Path("/usr/share/sounds/sf3"),
        Path("/usr/share/soundfonts"),
    )


def find_soundfont(candidates: Iterable[str], dirs: Sequence[Path] | None = None) -> Path | None:
    """The first candidate that exists as a file."""
    dirs = soundfont_dirs() if dirs is None else dirs
    for name in candidates:
        path = Path(name)
        if path.is_absolute():
            if path.is_file():
                return path
            continue
        for folder in dirs:
            if (folder / name).is_file():
                return folder / name
    return None


def installed_soundfonts(dirs: Sequence[Path] | None = None) -> list[Path]:
    """Every SoundFont file in the search folders (links to the same file counted once)."""
    dirs = soundfont_dirs() if dirs is None else dirs
    found: dict[Path, Path] = {}
    for folder in dirs:
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.suffix.lower() in SUFFIXES and path.is_file() and not path.is_symlink():
                    found.setdefault(path.resolve(), path)
    return list(found.values())


_quiet = False  # FluidSynth's logging is switched off once per process


def load_fluidsynth() -> tuple[Any, str | None]:
    """pyfluidsynth's module, or (None, why not): its library or the package may be missing."""
    try:
        # pyfluidsynth: ctypes bindings to libfluidsynth. It prints where it found the library when
        # $CI is set: never onto our stdout (a render may be writing audio there).
        with contextlib.redirect_stdout(io.StringIO()):
            import fluidsynth
    except ImportError as exc:
        return None, f"pyfluidsynth is not installed ({exc}); pip install 'edge-music[sampled]'"
    except OSError as exc:  # the library exists but does not load
        return None, f"libfluidsynth does not load ({exc})"
    if not hasattr(fluidsynth, "_fl") or not hasattr(fluidsynth._fl, "fluid_synth_write_float"):
        return None, "this pyfluidsynth does not expose libfluidsynth"
    if not hasattr(fluidsynth.Synth, "get_active_voice_count"):
        return None, "this pyfluidsynth is too old (1.4 or later plays sampled instruments)"
    global _quiet
    if not _quiet:  # FluidSynth's own messages go to stderr; ours (one line per problem) say enough
        _quiet = True
        silence = fluidsynth._fl.fluid_set_log_function
        silence.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
        for level in range(5):  # FLUID_PANIC .. FLUID_DBG
            silence(level, None, None)
    return fluidsynth, None


def fluidsynth_version() -> str | None:
    """The loaded libfluidsynth's version, or None when it does not load."""
    module, _ = load_fluidsynth()
    if module is None:
        return None
    parts = [ctypes.c_int(), ctypes.c_int(), ctypes.c_int()]
    module._fl.fluid_version(*(ctypes.byref(p) for p in parts))
    return ".".join(str(p.value) for p in parts)


class FontSynth:
    """One FluidSynth instance with one SoundFont loaded; one channel per selected preset."""

    def __init__(self, module: Any, path: Path, sample_rate: int, source: Path | None = None) -> None:
        """``path`` is loaded; ``source`` is the SoundFont it was trimmed from (``path`` if whole)."""
        settings = {
            "synth.reverb.active": 0,  # our own reverb and delay handle the room
            "synth.chorus.active": 0,
            "synth.cpu-cores": 1,  # no threads: one order of work, the same samples every run
            "synth.dynamic-sample-loading": 1,  # load a preset's samples when it is selected
            "synth.polyphony": POLYPHONY,
        }
        self.synth = module.Synth(gain=1.0, samplerate=sample_rate, channels=CHANNELS, **settings)
        self.path = path
        self.source = path if source is None else source
        self.sample_rate = sample_rate
        write = module._fl.fluid_synth_write_float
        write.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        write.argtypes += [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        write.restype = ctypes.c_int
        self._write = write
        self.sfid = self.synth.sfload(str(path))
        self.presets: dict[tuple[int, int], int] = {}  # (bank, program) -> channel
        self.warm = False

    def channel(self, bank: int, program: int) -> int | None:
        """The channel playing this preset, selecting it on a free one (None: not in this font)."""
        channel = self.presets.get((bank, program))
        if channel is not None:
            return channel
        free = [c for c in range(CHANNELS) if c not in self.presets.values()]
        if not free or self.synth.program_select(free[0], self.sfid, bank, program) != 0:
            return None
        self.presets[(bank, program)] = free[0]
        if not self.warm:  # a voice's first note starts with a ramp its later notes lack: use them all
            self.warm = True
            chord = [(pitch, 64) for pitch in range(32, 32 + POLYPHONY)]
            self.render(free[0], chord, BLOCK, BLOCK / self.sample_rate, temporary=True)
        return free[0]

    def _run(self, out: np.ndarray, start: int, frames: int) -> None:
        left, right = out[0, start:], out[1, start:]
        self._write(self.synth.synth, frames, left.ctypes.data, 0, 1, right.ctypes.data, 0, 1)

    def render(
        self,
        channel: int,
        notes: Sequence[tuple[int, int]],
        gate: int,
        tail_s: float = TAIL_S,
        temporary: bool = False,
    ) -> np.ndarray:
        """A chord from silence to silence (its release cut with a fade after ``tail_s``):
        (2, frames) float32, a whole number of blocks long, in the thread's note work array
        (``edge.render.scratch``: valid until the next note any synth renders in this thread), or
        with ``temporary`` in an array of its own (a one-off render outside the audio thread, which
        then keeps no work array)."""
        sample_rate = self.sample_rate
        held = -(-max(1, gate) // BLOCK) * BLOCK
        tail_max = -(-max(1, round(tail_s * sample_rate)) // BLOCK) * BLOCK
        if temporary:
            out = np.empty((2, held + tail_max), dtype=np.float32)
        else:  # reused: a fresh buffer per note costs page faults
            out = work_array("note", 2, held + tail_max)[:, : held + tail_max]
        for pitch, velocity in notes:
            self.synth.noteon(channel, pitch, velocity)
        self._run(out, 0, held)
        for pitch, _ in notes:
            self.synth.noteoff(channel, pitch)
        at = held
        step = 8 * BLOCK
        while at < out.shape[1] and self.synth.get_active_voice_count() > 0:
            size = min(step, out.shape[1] - at)
            self._run(out, at, size)
            at += size
        if self.synth.get_active_voice_count() > 0:  # a release longer than tail_s: cut with a fade
            self.synth.all_sounds_off(channel)
            self._run(np.zeros((2, BLOCK), dtype=np.float32), 0, BLOCK)
            fade = min(at, round(FADE_S * sample_rate))
            out[:, at - fade : at] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        return out[:, :at]
