"""Sampled instruments: a SoundFont (SF2/SF3) preset played by FluidSynth, note by note.

A pack's ``[instruments.<track>.sampled]`` table names SoundFont files (the first
one found is used) and a preset (``bank``, ``program``); the rest of the
``[instruments.<track>]`` table is the synth patch the track falls back to when
no SoundFont or no FluidSynth is installed (one log line says so). It may name
an SFZ instrument (``sfz``) or the pack's own WAV files by key (``samples``)
instead: those play through ``edge.render.keymap``, numpy only.

FluidSynth runs offline, driven by our own note events (no audio driver, no
thread, its reverb and chorus off: the sampled track goes through the synth's
own sends, effects and master like any other track). Like the synth, a chord is
rendered whole when its bar is scheduled: note-on at frame 0 of a silent synth,
note-off after the gate, then the release until FluidSynth has no voice left.
Every call starts and ends on FluidSynth's 64-frame block boundary and the synth
is warmed up with one throw-away note (FluidSynth's very first note differs by
a small ramp), so a note's samples depend only on the note: renders are byte
identical whatever came before. (Rendered notes are not cached: in 5 minutes of
focus or house, 1-4% of chords repeat exactly, not worth the memory.)

FluidSynth loads a preset's samples only when it is selected
(``synth.dynamic-sample-loading``), a preset no track uses any more is
unselected, and a SoundFont no track uses is closed, so only the samples of the
active pack are in memory.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.render.keymap import KeymapError, KeymapInstrument, note_number, parse_sfz, regions_from_samples
from edge.state import state_dir

log = logging.getLogger(__name__)

BLOCK = 64
"""FluidSynth's internal block (FLUID_BUFSIZE): every render call is a whole number of these."""
TAIL_S = 4.0
"""Longest release rendered after a note-off (by default); a longer tail is faded out over FADE_S."""
FADE_S = 0.05
"""Fade applied where a release is cut at TAIL_S."""
CHANNELS = 16
"""MIDI channels per FluidSynth instance: one preset each."""
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


@dataclass(frozen=True)
class Sampled:
    """A sampled instrument that plays a track instead of its synth patch (when it can): a SoundFont
    preset, an SFZ instrument or the pack's own key-mapped samples (exactly one of the three)."""

    soundfont: tuple[str, ...] = ()
    """SoundFont files to try in order: a bare name is searched in the SoundFont folders, a path
    with a folder is relative to the pack's own folder (or absolute)."""
    sfz: str = ""
    """An SFZ instrument file, relative to the pack's own folder (``edge.render.keymap``)."""
    samples: tuple[tuple[int, str], ...] = ()
    """The pack's own WAV files by root key (``{"c4" = "samples/ep-c4.wav"}``, relative to the pack's
    folder): each plays from its key halfway to its neighbours'."""
    bank: int = 0
    """Preset bank, 0..16383 (General MIDI melodic presets are in bank 0)."""
    program: int = 0
    """Preset number, 0..127 (General MIDI: 0 acoustic grand piano, 4 electric piano...)."""
    gain: float = 1.0
    """Level of the sampled voice relative to the patch's ``level``, 0..8."""
    release: float = 0.25
    """Key-mapped samples: seconds from the note-off to silence, 0..10."""


_SAMPLED_RANGES = {"bank": (0, 16383), "program": (0, 127), "gain": (0.0, 8.0), "release": (0.0, 10.0)}
_KINDS = ("soundfont", "sfz", "samples")


def parse_sampled(table: Any, where: str, folder: str = "") -> Sampled:
    """A ``sampled`` table; paths with a folder are resolved against ``folder`` (the pack's own).

    Raises ``ValueError("<where>: sampled.<key>: <what is wrong>")`` for the first bad key.
    """
    if not isinstance(table, dict):
        raise ValueError(f"{where}: sampled: expected a table, got {type(table).__name__}")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key == "soundfont":
            names = [value] if isinstance(value, str) else value
            if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
                raise ValueError(
                    f"{where}: sampled.soundfont: expected a file name or a list of them, got {value!r}"
                )
            values[key] = tuple(_resolve(name, folder) for name in names)
        elif key == "sfz":
            if not isinstance(value, str) or not value:
                raise ValueError(f"{where}: sampled.sfz: expected a file name, got {value!r}")
            values[key] = str(Path(folder or ".") / Path(value).expanduser())
        elif key == "samples":
            values[key] = _key_map(value, where, folder)
        elif key in _SAMPLED_RANGES:
            low, high = _SAMPLED_RANGES[key]
            integer = key in ("bank", "program")
            if isinstance(value, bool) or not isinstance(value, int if integer else int | float):
                kind = "an integer" if integer else "a number"
                raise ValueError(f"{where}: sampled.{key}: expected {kind}, got {value!r}")
            if not (low <= value <= high) or not math.isfinite(value):
                raise ValueError(f"{where}: sampled.{key}: {value!r} is outside {low:g}..{high:g}")
            values[key] = value if integer else float(value)
        else:
            known = "soundfont, sfz, samples, bank, program, gain, release"
            raise ValueError(f"{where}: sampled.{key}: unknown key (known: {known})")
    kinds = [k for k in _KINDS if k in values]
    if len(kinds) != 1:
        found = f"got {' and '.join(kinds)}" if kinds else "got none"
        raise ValueError(f"{where}: sampled: needs one of soundfont, sfz or samples ({found})")
    return Sampled(**values)


def _key_map(value: Any, where: str, folder: str) -> tuple[tuple[int, str], ...]:
    """``{"c4" = "a.wav", "72" = "b.wav"}`` as sorted (root key, path) pairs."""
    if not isinstance(value, dict) or not value:
        raise ValueError(f'{where}: sampled.samples: expected a table of key = "file.wav", got {value!r}')
    pairs = {}
    for name, path in value.items():
        try:
            key = note_number(name, f"{where}: sampled.samples")
        except KeymapError as exc:
            raise ValueError(str(exc)) from None
        if not isinstance(path, str) or not path:
            raise ValueError(f"{where}: sampled.samples.{name}: expected a file name, got {path!r}")
        if key in pairs:
            raise ValueError(f"{where}: sampled.samples.{name}: key {key} is mapped twice")
        pairs[key] = str(Path(folder or ".") / Path(path).expanduser())
    return tuple(sorted(pairs.items()))


def _resolve(name: str, folder: str) -> str:
    """A name with a folder becomes an absolute path (relative to the pack's folder); a bare name stays."""
    path = Path(name).expanduser()
    if path.is_absolute() or len(path.parts) == 1:
        return str(path)
    return str(Path(folder or ".") / path)


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


def what_plays(spec: Sampled) -> str:
    """What a track with ``spec`` would play here, in a few words, without loading samples:
    the SoundFont and preset, the SFZ file, the pack's samples, or "synth patch (why)"."""
    if spec.sfz:
        try:
            regions = parse_sfz(Path(spec.sfz))
        except KeymapError as exc:
            return f"synth patch ({exc})"
        missing = sorted({str(r.sample) for r in regions if not r.sample.is_file()})
        return f"synth patch ({missing[0]}: no such sample)" if missing else Path(spec.sfz).name
    if spec.samples:
        missing = [path for _, path in spec.samples if not Path(path).is_file()]
        return f"synth patch ({missing[0]}: no such sample)" if missing else f"{len(spec.samples)} samples"
    module, why = load_fluidsynth()
    if module is None:
        return f"synth patch ({why})"
    font = find_soundfont(spec.soundfont)
    if font is None:
        return f"synth patch (no SoundFont found: tried {', '.join(spec.soundfont)})"
    return f"{font.name} bank {spec.bank} program {spec.program}"


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


class _Font:
    """One FluidSynth instance with one SoundFont loaded; one channel per selected preset."""

    def __init__(self, module: Any, path: Path, sample_rate: int) -> None:
        settings = {
            "synth.reverb.active": 0,  # our own reverb and delay handle the room
            "synth.chorus.active": 0,
            "synth.cpu-cores": 1,  # no threads: one order of work, the same samples every run
            "synth.dynamic-sample-loading": 1,  # load a preset's samples when it is selected
            "synth.polyphony": 64,
        }
        self.synth = module.Synth(gain=1.0, samplerate=sample_rate, channels=CHANNELS, **settings)
        self.path = path
        self.sample_rate = sample_rate
        write = module._fl.fluid_synth_write_float
        write.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        write.argtypes += [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        write.restype = ctypes.c_int
        self._write = write
        self.sfid = self.synth.sfload(str(path))
        self.presets: dict[tuple[int, int], int] = {}  # (bank, program) -> channel
        self._scratch = np.empty((2, 0), dtype=np.float32)
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
        if not self.warm:  # FluidSynth's first note ever starts with a ramp the others lack
            self.warm = True
            self.render(free[0], [(60, 64)], BLOCK)
        return free[0]

    def release(self, keep: set[tuple[int, int]]) -> None:
        """Unselect presets not in ``keep``: FluidSynth then frees their samples."""
        for preset, channel in list(self.presets.items()):
            if preset not in keep:
                self.synth.program_unset(channel)
                del self.presets[preset]

    def _run(self, out: np.ndarray, start: int, frames: int) -> None:
        left, right = out[0, start:], out[1, start:]
        self._write(self.synth.synth, frames, left.ctypes.data, 0, 1, right.ctypes.data, 0, 1)

    def render(
        self, channel: int, notes: Sequence[tuple[int, int]], gate: int, tail_s: float = TAIL_S
    ) -> np.ndarray:
        """A chord from silence to silence (its release cut with a fade after ``tail_s``):
        (2, frames) float32, a whole number of blocks long, valid until the next call."""
        sample_rate = self.sample_rate
        held = -(-max(1, gate) // BLOCK) * BLOCK
        tail_max = -(-max(1, round(tail_s * sample_rate)) // BLOCK) * BLOCK
        if self._scratch.shape[1] < held + tail_max:  # reused: a fresh buffer per note costs page faults
            self._scratch = np.empty((2, held + tail_max), dtype=np.float32)
        out = self._scratch[:, : held + tail_max]
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


@dataclass(frozen=True)
class SampledVoice:
    """A track's resolved sampled instrument: where it plays and how loud."""

    spec: Sampled
    """What the pack asked for."""
    gain: float
    """Level relative to the patch's."""
    font: Path | None = None
    """The SoundFont playing it (None for key-mapped samples)."""
    channel: int = -1
    """Its FluidSynth channel."""
    keymap: KeymapInstrument | None = None
    """The key-mapped samples playing it (an SFZ instrument or the pack's own WAV files)."""


class SampledBank:
    """Every sampled instrument the current sound uses, and the notes rendered from them."""

    def __init__(self, sample_rate: int, tail_s: float = TAIL_S) -> None:
        self.sample_rate = sample_rate
        self.tail_s = tail_s
        self._fonts: dict[Path, _Font] = {}
        self._keymaps: dict[Sampled, KeymapInstrument] = {}
        self._broken: dict[Any, str] = {}  # spec -> why it is not played ("" once logged)
        #: Samples rendered (channels x frames): a measure of work done.
        self.work = 0

    def voices(self, specs: dict[str, Sampled], where: str = "") -> dict[str, SampledVoice]:
        """Resolve each track's spec; a track that cannot be sampled is left out (its synth patch
        plays) with one log line per spec, the first time. Presets, SoundFonts and samples no
        track uses any more are released."""
        resolved: dict[str, SampledVoice] = {}
        for track, spec in specs.items():
            voice = self._voice(spec)
            if voice is None:
                reason = self._broken[spec]
                if reason:
                    log.warning(
                        "%s%s: sampled instrument off: %s; playing its synth patch", where, track, reason
                    )
                    self._broken[spec] = ""  # said once
            else:
                resolved[track] = voice
        for path, font in list(self._fonts.items()):
            font.release({(v.spec.bank, v.spec.program) for v in resolved.values() if v.font == path})
            if not font.presets:  # no track plays this SoundFont now: free it (~10 MB for FluidR3)
                font.synth.delete()
                del self._fonts[path]
        used = {v.spec for v in resolved.values()}
        self._keymaps = {spec: keymap for spec, keymap in self._keymaps.items() if spec in used}
        return resolved

    def _voice(self, spec: Sampled) -> SampledVoice | None:
        if spec in self._broken:
            return None
        if spec.sfz or spec.samples:
            return self._keymap_voice(spec)
        module, why = load_fluidsynth()
        path = find_soundfont(spec.soundfont) if module is not None else None
        if module is None:
            self._broken[spec] = why or "FluidSynth is missing"
            return None
        if path is None:
            self._broken[spec] = f"no SoundFont found (tried {', '.join(spec.soundfont)})"
            return None
        font = self._fonts.get(path)
        if font is None:
            font = _Font(module, path, self.sample_rate)
            if font.sfid < 0:
                self._broken[spec] = f"FluidSynth cannot load {path}"
                font.synth.delete()
                return None
            self._fonts[path] = font
        channel = font.channel(spec.bank, spec.program)
        if channel is None:
            self._broken[spec] = f"{path} has no preset bank {spec.bank} program {spec.program}"
            return None
        return SampledVoice(spec, spec.gain, font=path, channel=channel)

    def _keymap_voice(self, spec: Sampled) -> SampledVoice | None:
        keymap = self._keymaps.get(spec)
        if keymap is None:
            try:
                if spec.sfz:
                    regions = parse_sfz(Path(spec.sfz))
                else:
                    regions = regions_from_samples(spec.samples, 0.0, spec.release)
                keymap = KeymapInstrument(regions, self.sample_rate)
            except KeymapError as exc:
                self._broken[spec] = str(exc)
                return None
            self._keymaps[spec] = keymap
        return SampledVoice(spec, spec.gain, keymap=keymap)

    @property
    def loaded(self) -> dict[Path, list[tuple[int, int]]]:
        """What is in memory: each open SoundFont with its selected presets (bank, program), and each
        key-mapped instrument (its SFZ file, or its first sample) with none."""
        loaded: dict[Path, list[tuple[int, int]]] = {p: sorted(f.presets) for p, f in self._fonts.items()}
        for spec in self._keymaps:
            loaded[Path(spec.sfz) if spec.sfz else Path(spec.samples[0][1]).parent] = []
        return loaded

    def render(self, voice: SampledVoice, notes: Sequence[tuple[int, int]], gate: int) -> np.ndarray:
        """(2, frames) float32 of a chord (MIDI pitch, velocity) held ``gate`` frames, with its release.

        The array is a view of a reused buffer: valid until the next call, not to be written to.
        """
        chord = sorted((min(127, max(0, p)), min(127, max(1, v))) for p, v in notes)
        if voice.keymap is not None:
            data = voice.keymap.render(chord, gate)
        else:
            assert voice.font is not None
            data = self._fonts[voice.font].render(voice.channel, chord, gate, self.tail_s)
        self.work += data.size
        return data

    def close(self) -> None:
        """Free every FluidSynth instance (and its samples)."""
        for font in self._fonts.values():
            font.synth.delete()
        self._fonts.clear()
        self._keymaps.clear()
