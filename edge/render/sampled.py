"""Sampled instruments: what a pack asks for, and the bank that plays the current sound's.

A pack's ``[instruments.<track>.sampled]`` table names SoundFont files (the first
one found is used) and a preset (``bank``, ``program``), played by FluidSynth
(``edge.render.soundfonts``); or an SFZ instrument (``sfz``) or the pack's own WAV
files by key (``samples``), played by numpy (``edge.render.keymap``). The rest of
the ``[instruments.<track>]`` table is the synth patch the track falls back to
when the instrument cannot play here (no FluidSynth, no SoundFont, a missing
sample): one log line says so.

Only what the current sound uses is in memory: each SoundFont plays in one
FluidSynth instance holding the sound's presets, closed when the sound changes,
and key-mapped samples are dropped with the pack that used them. A SoundFont is
loaded from its copy trimmed to the sound's presets when ``prepare_soundfonts``
made one (``edge.render.fontcache``): FluidSynth then holds a few preset
headers, not the whole font's. (Rendered notes are not cached: in 5 minutes of
focus or house, 1-4% of chords repeat exactly, not worth the memory.)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.render.fontcache import prepare_sounds, trimmed
from edge.render.keymap import KeymapError, KeymapInstrument, note_number, parse_sfz, regions_from_samples
from edge.render.soundfonts import TAIL_S, FontSynth, find_soundfont, load_fluidsynth

log = logging.getLogger(__name__)


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
    file: Path | None = None
    """The file FluidSynth loaded for it: ``font``, or its copy trimmed to the sound's presets."""
    sound: frozenset[tuple[int, int]] = frozenset()
    """Every preset (bank, program) the current sound plays from ``font``: its FluidSynth instance."""
    keymap: KeymapInstrument | None = None
    """The key-mapped samples playing it (an SFZ instrument or the pack's own WAV files)."""


#: The level every SoundFont preset is brought to before a pack's ``gain``: the RMS of its middle C
#: at velocity 100 over the first half second. SoundFonts differ (TimGM6mb's pianos sound ~4 dB
#: under FluidR3's), so without it a pack's loudness would depend on which one a machine has.
REFERENCE_RMS = 0.06
_REFERENCE_NOTE, _REFERENCE_SECONDS = (60, 100), 0.5


class SampledBank:
    """Every sampled instrument the current sound uses, and the notes rendered from them."""

    def __init__(self, sample_rate: int, tail_s: float = TAIL_S) -> None:
        self.sample_rate = sample_rate
        self.tail_s = tail_s
        self._fonts: dict[tuple[Path, frozenset[tuple[int, int]]], FontSynth] = {}  # per (font, sound)
        self._keymaps: dict[Sampled, KeymapInstrument] = {}
        self._broken: dict[Any, str] = {}  # spec -> why it is not played ("" once logged)
        self._levels: dict[tuple[Path, int, int], float] = {}  # (font, bank, program) -> factor
        #: Samples rendered (channels x frames): a measure of work done.
        self.work = 0

    def voices(self, specs: dict[str, Sampled], where: str = "") -> dict[str, SampledVoice]:
        """Resolve each track's spec; a track that cannot be sampled is left out (its synth patch
        plays) with one log line per spec, the first time. SoundFonts and samples no track uses
        any more are released.

        Each SoundFont plays in one FluidSynth instance per sound: the instance holding exactly
        this sound's presets from it, a fresh one when they change (so a note never depends on
        the sounds before it), loaded from the font's copy trimmed to those presets when one was
        prepared (``edge.render.fontcache``; the same samples, a fraction of the memory)."""
        sources = self._sources(specs.values())
        wanted: dict[Path, set[tuple[int, int]]] = {}
        for spec, source in sources.items():
            wanted.setdefault(source, set()).add((spec.bank, spec.program))
        sounds = {source: frozenset(presets) for source, presets in wanted.items()}
        for key in [key for key in self._fonts if sounds.get(key[0]) != key[1]]:
            self._fonts.pop(key).synth.delete()  # the previous sound's: free it (and its samples)
        resolved: dict[str, SampledVoice] = {}
        for track, spec in specs.items():
            voice = self._voice(spec, sources.get(spec), sounds)
            if voice is None:
                reason = self._broken[spec]
                if reason:
                    log.warning(
                        "%s%s: sampled instrument off: %s; playing its synth patch", where, track, reason
                    )
                    self._broken[spec] = ""  # said once
            else:
                resolved[track] = voice
        used = {v.spec for v in resolved.values()}
        self._keymaps = {spec: keymap for spec, keymap in self._keymaps.items() if spec in used}
        return resolved

    def _sources(self, specs: Iterable[Sampled]) -> dict[Sampled, Path]:
        """The SoundFont each SoundFont spec plays (the specs that cannot play are marked broken)."""
        sources: dict[Sampled, Path] = {}
        for spec in specs:
            if spec in self._broken or spec.sfz or spec.samples:
                continue
            module, why = load_fluidsynth()
            path = find_soundfont(spec.soundfont) if module is not None else None
            if module is None:
                self._broken[spec] = why or "FluidSynth is missing"
            elif path is None:
                self._broken[spec] = f"no SoundFont found (tried {', '.join(spec.soundfont)})"
            else:
                sources[spec] = path
        return sources

    def _voice(
        self, spec: Sampled, source: Path | None, sounds: dict[Path, frozenset[tuple[int, int]]]
    ) -> SampledVoice | None:
        if spec in self._broken:
            return None
        if spec.sfz or spec.samples:
            return self._keymap_voice(spec)
        assert source is not None
        font = self._open(source, sounds[source])
        if font is None:
            self._broken[spec] = f"FluidSynth cannot load {source}"
            return None
        channel = font.channel(spec.bank, spec.program)
        if channel is None:
            self._broken[spec] = f"{source} has no preset bank {spec.bank} program {spec.program}"
            return None
        level = self._level(source, font, spec, channel)
        return SampledVoice(
            spec, spec.gain * level, font=source, channel=channel, file=font.path, sound=sounds[source]
        )

    def _open(self, source: Path, sound: frozenset[tuple[int, int]]) -> FontSynth | None:
        """The FluidSynth instance playing ``sound``'s presets from ``source`` (its trimmed copy's
        when there is one; the source itself, said once, when the copy does not load)."""
        font = self._fonts.get((source, sound))
        if font is not None:
            return font
        module, _ = load_fluidsynth()
        copy = trimmed(source, sound)
        if copy is not None:
            font = FontSynth(module, copy, self.sample_rate, source=source)
            if font.sfid < 0:
                font.synth.delete()
                log.warning("SoundFont copy %s does not load; playing %s whole", copy, source)
                font = None
        if font is None:
            font = FontSynth(module, source, self.sample_rate)
            if font.sfid < 0:
                font.synth.delete()
                return None
        self._fonts[(source, sound)] = font
        return font

    def _level(self, path: Path, font: Any, spec: Sampled, channel: int) -> float:
        """The factor that brings this preset to ``REFERENCE_RMS`` (measured once per preset)."""
        key = (path, spec.bank, spec.program)
        if key not in self._levels:
            gate = round(_REFERENCE_SECONDS * self.sample_rate)
            note = font.render(channel, [_REFERENCE_NOTE], gate, self.tail_s, temporary=True)
            held = np.asarray(note[:, :gate], np.float64)
            rms = float(np.sqrt(np.mean(held**2))) if held.size else 0.0
            self._levels[key] = REFERENCE_RMS / rms if rms > 1e-6 else 1.0
        return self._levels[key]

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
        loaded: dict[Path, list[tuple[int, int]]] = {}
        for font in self._fonts.values():  # by the SoundFont a pack names, trimmed or not
            loaded[font.source] = sorted({*loaded.get(font.source, []), *font.presets})
        for spec in self._keymaps:
            loaded[Path(spec.sfz) if spec.sfz else Path(spec.samples[0][1]).parent] = []
        return loaded

    def render(self, voice: SampledVoice, notes: Sequence[tuple[int, int]], gate: int) -> np.ndarray:
        """(2, frames) float32 of a chord (MIDI pitch, velocity) held ``gate`` frames, with its release.

        The array is a view of the thread's note work array (``edge.render.scratch``): valid until
        the next note rendered in this thread, not to be written to.
        """
        chord = sorted((min(127, max(0, p)), min(127, max(1, v))) for p, v in notes)
        if voice.keymap is not None:
            data = voice.keymap.render(chord, gate)
        else:
            assert voice.font is not None
            data = self._fonts[(voice.font, voice.sound)].render(voice.channel, chord, gate, self.tail_s)
        self.work += data.size
        return data

    def close(self) -> None:
        """Free every FluidSynth instance (and its samples)."""
        for font in self._fonts.values():
            font.synth.delete()
        self._fonts.clear()
        self._keymaps.clear()


def soundfont_presets(specs: Iterable[Sampled]) -> dict[Path, frozenset[tuple[int, int]]]:
    """The SoundFonts these specs would play here (the first found of each), with their presets."""
    presets: dict[Path, set[tuple[int, int]]] = {}
    for spec in specs:
        path = find_soundfont(spec.soundfont) if spec.soundfont else None
        if path is not None:
            presets.setdefault(path, set()).add((spec.bank, spec.program))
    return {path: frozenset(wanted) for path, wanted in presets.items()}


def prepare_soundfonts(sounds: Iterable[Iterable[Sampled]]) -> list[Path]:
    """Write, where missing, each sound's SoundFonts trimmed to the presets it plays (the specs of
    one pack per sound), for ``SampledBank`` to load instead of the whole fonts; off the audio
    path (the daemon calls it when it loads the packs). Returns the copies ready."""
    return prepare_sounds(soundfont_presets(specs) for specs in sounds)
