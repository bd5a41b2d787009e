"""Style packs: sound worlds written as TOML data under ``edge/styles/``.

A pack says what the music may do (tempo, density and register ranges,
scales, chord vocabulary and progressions, rhythm probabilities) and how it
sounds (synth patches, drum kit, mix). Everything is validated on load; an
error names the pack, the file and the key.
"""

from __future__ import annotations

import logging
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.music.events import SECTIONS
from edge.music.theory import CHORD_QUALITIES, FAMILY, SCALES

log = logging.getLogger(__name__)

STYLES_DIR = Path(__file__).resolve().parent.parent / "styles"
#: The file that holds the style of an installed pack (``<packs dir>/<name>/pack.toml``).
PACK_FILE = "pack.toml"
#: Cadences a pack may name (their chords are in ``edge.music.phrases.CADENCES``).
CADENCE_NAMES = ("authentic", "plagal", "half", "deceptive")
STEPS_PER_BAR = 16  # rhythm grids are written in 16ths of a 4/4 bar; 3/4 uses the first 12


class StyleError(ValueError):
    """A style pack is invalid; ``str()`` names the pack, file and key."""


@dataclass(frozen=True)
class DrumPattern:
    """Probabilities per 16th step for each drum, used in an energy band."""

    energy: tuple[float, float]
    """The band of effective energy (0..1) in which this pattern is chosen."""
    kick: tuple[float, ...]
    """Kick probability per step."""
    snare: tuple[float, ...]
    """Snare probability per step."""
    clap: tuple[float, ...]
    """Clap probability per step."""
    hat: tuple[float, ...]
    """Closed hi-hat probability per step."""
    open_hat: tuple[float, ...]
    """Open hi-hat probability per step."""


@dataclass(frozen=True)
class Part:
    """Rhythm and dynamics for one accompaniment part (bass or keys)."""

    steps: tuple[float, ...]
    """Probability of a hit per 16th step, scaled by energy."""
    velocity: tuple[int, int]
    """Velocity range, low energy to high energy."""
    length: float = 0.9
    """Note length as a share of the gap to the next hit."""
    fifth: float = 0.0
    """Bass only: chance a hit plays the fifth instead of the root."""
    octave: float = 0.0
    """Bass only: chance a hit jumps an octave."""


@dataclass(frozen=True)
class StylePack:
    """One sound world. Musical fields are read by the conductor, generators and arranger."""

    name: str
    """Short name, equal to the file name without ".toml" (an installed pack: its folder's name)."""
    description: str
    """One line shown to listeners."""
    tempo: tuple[float, float]
    """BPM range."""
    density: tuple[float, float]
    """Melody notes per beat, at low and at high energy."""
    melody_register: tuple[int, int]
    """MIDI range of the lead."""
    bass_register: tuple[int, int]
    """MIDI range of the bass."""
    chord_register: tuple[int, int]
    """MIDI range of pad and keys voicings."""
    scales: tuple[str, ...]
    """Scales the style allows, chosen by mood."""
    chords: tuple[str, ...]
    """Chord qualities the style allows (the vocabulary)."""
    progressions: tuple[tuple[int, ...], ...]
    """Progressions as 1-based scale degrees."""
    chord_beats: int
    """Beats per chord (the harmonic rhythm)."""
    melody_rest: float
    """Chance a melodic slot is a rest."""
    melody_leap: float
    """Chance of a leap instead of a step."""
    melody_grid: float
    """Shortest melodic value in beats (0.25 = 16ths)."""
    melody_velocity: tuple[int, int]
    """Lead velocity range."""
    swing: float
    """0..0.5: how late off-beat 16ths land, as a share of a 16th."""
    bass: Part | None
    """Bass rhythm, or None for no bass."""
    keys: Part | None
    """Keys comping rhythm, or None for no keys."""
    pad_velocity: tuple[int, int]
    """Pad velocity range."""
    drum_patterns: tuple[DrumPattern, ...]
    """Drum patterns by energy band; empty for no drums."""
    drum_velocity: tuple[int, int]
    """Drum velocity range."""
    instruments: dict[str, Any] = field(default_factory=dict)
    """Track name -> synth patch (edge.render.patch.Patch)."""
    kit: Any = None
    """Drum kit synthesis parameters (edge.render.patch.DrumKit), or None."""
    mix: Any = None
    """Effects and levels (edge.render.patch.Mix)."""
    path: str = ""
    """File the pack was loaded from."""
    phrase_bars: int = 4
    """Bars per phrase; each ends on a cadence (``edge.music.phrases``)."""
    cadences: tuple[str, ...] = ("authentic", "plagal", "half")
    """Cadences the style ends phrases with, in order of preference (the first closing one ends sections)."""
    pedal_sections: tuple[str, ...] = ()
    """Sections that hold a tonic drone on purpose; only there may a harmony outlast 8 bars."""
    author: str = ""
    """Who made the pack (credited in content credentials and the ledger); "" = unattributed."""
    version: str = ""
    """The pack's own version string."""
    licence: str = ""
    """The terms the pack is shared under (an SPDX id such as CC-BY-4.0, or a short text)."""
    contact: str = ""
    """How to reach the author (an e-mail address or a URL)."""

    @property
    def credit(self) -> str:
        """The author as credited, or "unattributed" when the pack names none."""
        return self.author or "unattributed"

    @property
    def tracks(self) -> tuple[str, ...]:
        """Tracks this pack plays."""
        names = [t for t in ("lead", "keys", "pad", "bass") if t in self.instruments]
        if self.drum_patterns and self.kit is not None:
            names.append("drums")
        return tuple(names)


class _Table:
    """Reads one TOML table, tracking which keys were used so unknown ones can be reported."""

    def __init__(self, data: Any, where: str, fail: Any) -> None:
        if not isinstance(data, dict):
            fail(where, f"expected a table, got {type(data).__name__}")
        self.data, self.where, self.fail = data, where, fail
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def get(self, name: str, default: Any = ...) -> Any:
        self.used.add(name)
        if name not in self.data:
            if default is ...:
                self.fail(self.key(name), "is required")
            return default
        return self.data[name]

    def number(self, name: str, low: float, high: float, default: Any = ...) -> float:
        value = self.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.fail(self.key(name), f"expected a number, got {value!r}")
        if not low <= value <= high:
            self.fail(self.key(name), f"{value!r} is outside {low:g}..{high:g}")
        return float(value)

    def pair(self, name: str, low: float, high: float, default: Any = ...) -> tuple[float, float]:
        value = self.get(name, default)
        ok = isinstance(value, list | tuple) and len(value) == 2
        if not ok or any(isinstance(v, bool) or not isinstance(v, int | float) for v in value):
            self.fail(self.key(name), f"expected [low, high], got {value!r}")
        a, b = float(value[0]), float(value[1])
        if not (low <= a <= b <= high):
            self.fail(self.key(name), f"{value!r} must satisfy {low:g} <= low <= high <= {high:g}")
        return a, b

    def steps(self, name: str, default: Any = ...) -> tuple[float, ...]:
        value = self.get(name, default)
        if not isinstance(value, list | tuple) or len(value) != STEPS_PER_BAR:
            self.fail(self.key(name), f"expected {STEPS_PER_BAR} step probabilities, got {value!r}")
        for v in value:
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
                self.fail(self.key(name), f"step probabilities must be 0..1, got {v!r}")
        return tuple(float(v) for v in value)

    def names(self, name: str, allowed: Any, what: str) -> tuple[str, ...]:
        value = self.get(name)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            self.fail(self.key(name), f"expected a non-empty list of {what} names")
        for v in value:
            if v not in allowed:
                self.fail(self.key(name), f"{v!r} is not a known {what} ({', '.join(allowed)})")
        return tuple(value)

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            self.fail(self.key(unknown[0]), "unknown key")


def _ints(pair: tuple[float, float]) -> tuple[int, int]:
    return int(pair[0]), int(pair[1])


def _part(table: _Table) -> Part:
    part = Part(
        steps=table.steps("steps"),
        velocity=_ints(table.pair("velocity", 1, 127)),
        length=table.number("length", 0.05, 4.0, 0.9),
        fifth=table.number("fifth", 0, 1, 0.0),
        octave=table.number("octave", 0, 1, 0.0),
    )
    table.finish()
    return part


def parse_pack(data: dict[str, Any], name: str, path: str = "") -> StylePack:
    """Validate the TOML data of a pack and build it. Raises StyleError."""
    origin = f"style {name!r} ({path})" if path else f"style {name!r}"

    def fail(key: str, message: str) -> None:
        raise StyleError(f"{origin}: {key}: {message}")

    root = _Table(data, "", fail)
    declared = root.get("name")
    if declared != name:
        fail("name", f"must equal the file name {name!r}, got {declared!r}")
    description = root.get("description")
    if not isinstance(description, str):
        fail("description", "expected a string")
    about: dict[str, str] = {}
    for key in ("author", "version", "licence", "contact"):
        value = root.get(key, "")
        if not isinstance(value, str) or len(value) > 200 or any(ord(c) < 32 for c in value):
            fail(key, "expected one line of text (at most 200 characters)")
        about[key] = value.strip()

    tempo = _Table(root.get("tempo"), "tempo", fail)
    tempo_range = tempo.pair("range", 40, 240)
    tempo.finish()
    density = _Table(root.get("density"), "density", fail)
    density_range = density.pair("range", 0.05, 4.0)
    density.finish()
    register = _Table(root.get("register"), "register", fail)
    ranges = {k: _ints(register.pair(k, 21, 108)) for k in ("melody", "bass", "chords")}
    for k, (low, high) in ranges.items():
        if high - low < 12:
            fail(f"register.{k}", "must span at least an octave")
    register.finish()

    harmony = _Table(root.get("harmony"), "harmony", fail)
    scales = harmony.names("scales", SCALES, "scale")
    chords = harmony.names("chords", CHORD_QUALITIES, "chord quality")
    for family in ("maj", "min"):
        if not any(FAMILY.get(q) == family for q in chords):
            fail("harmony.chords", f"needs at least one {family} chord quality")
    progressions = harmony.get("progressions")
    if not isinstance(progressions, list) or not progressions:
        fail("harmony.progressions", "expected a non-empty list of degree lists")
    for prog in progressions:
        if (
            not isinstance(prog, list)
            or not prog
            or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in prog)
        ):
            fail("harmony.progressions", f"{prog!r} must be a list of scale degrees 1..7")
    chord_beats = harmony.get("chord_beats", 4)
    if chord_beats not in (1, 2, 3, 4, 6, 8):
        fail("harmony.chord_beats", f"expected 1, 2, 3, 4, 6 or 8, got {chord_beats!r}")
    phrase_bars = harmony.get("phrase_bars", 4)
    if phrase_bars not in (2, 4, 8):
        fail("harmony.phrase_bars", f"expected 2, 4 or 8, got {phrase_bars!r}")
    cadences = harmony.names("cadences", CADENCE_NAMES, "cadence") if "cadences" in harmony.data else None
    pedal = harmony.names("pedal_sections", SECTIONS, "section") if "pedal_sections" in harmony.data else ()
    harmony.finish()

    melody = _Table(root.get("melody"), "melody", fail)
    melody_rest = melody.number("rest", 0, 0.9)
    melody_leap = melody.number("leap", 0, 1)
    melody_grid = melody.number("grid", 0.25, 4)
    if melody_grid not in (0.25, 0.5, 1.0, 2.0, 4.0):
        fail("melody.grid", f"expected 0.25, 0.5, 1, 2 or 4, got {melody_grid!r}")
    melody_velocity = _ints(melody.pair("velocity", 1, 127))
    swing = melody.number("swing", 0, 0.5, 0.0)
    melody.finish()

    bass = _part(_Table(root.get("bass"), "bass", fail)) if "bass" in data else None
    root.used.add("bass")
    keys = _part(_Table(root.get("keys"), "keys", fail)) if "keys" in data else None
    root.used.add("keys")
    pad = _Table(root.get("pad", {}), "pad", fail)
    pad_velocity = _ints(pad.pair("velocity", 1, 127, [50, 80]))
    pad.finish()

    patterns: list[DrumPattern] = []
    drum_velocity = (80, 115)
    if "drums" in data:
        drums = _Table(root.get("drums"), "drums", fail)
        drum_velocity = _ints(drums.pair("velocity", 1, 127, [80, 115]))
        raw = drums.get("pattern")
        if not isinstance(raw, list) or not raw:
            fail("drums.pattern", "expected one or more [[drums.pattern]] tables")
        for i, item in enumerate(raw):
            t = _Table(item, f"drums.pattern[{i}]", fail)
            silent = [0.0] * STEPS_PER_BAR
            patterns.append(
                DrumPattern(
                    energy=t.pair("energy", 0, 1),
                    kick=t.steps("kick", silent),
                    snare=t.steps("snare", silent),
                    clap=t.steps("clap", silent),
                    hat=t.steps("hat", silent),
                    open_hat=t.steps("open_hat", silent),
                )
            )
            t.finish()
        drums.finish()
    root.used.add("drums")

    instruments, kit, mix = _sound(root, data, fail, str(Path(path).parent) if path else "")
    root.finish()
    for track in ("lead", "pad"):
        if track not in instruments:
            fail(f"instruments.{track}", "is required")
    if bass is not None and "bass" not in instruments:
        fail("instruments.bass", "is required when [bass] is given")
    if keys is not None and "keys" not in instruments:
        fail("instruments.keys", "is required when [keys] is given")
    if patterns and kit is None:
        fail("kit", "is required when drum patterns are given")

    return StylePack(
        name=name,
        description=description,
        tempo=tempo_range,
        density=density_range,
        melody_register=ranges["melody"],
        bass_register=ranges["bass"],
        chord_register=ranges["chords"],
        scales=scales,
        chords=chords,
        progressions=tuple(tuple(p) for p in progressions),
        chord_beats=chord_beats,
        phrase_bars=phrase_bars,
        cadences=cadences or StylePack.cadences,
        pedal_sections=pedal,
        melody_rest=melody_rest,
        melody_leap=melody_leap,
        melody_grid=melody_grid,
        melody_velocity=melody_velocity,
        swing=swing,
        bass=bass,
        keys=keys,
        pad_velocity=pad_velocity,
        drum_patterns=tuple(patterns),
        drum_velocity=drum_velocity,
        instruments=instruments,
        kit=kit,
        mix=mix,
        path=path,
        **about,
    )


def _sound(root: _Table, data: dict[str, Any], fail: Any, folder: str) -> tuple[dict[str, Any], Any, Any]:
    """The synth half of a pack, validated by the synth's own parsers (sample files are relative to
    ``folder``, the pack's own)."""
    from edge.render import patch as synth_patch  # the synth owns its parameter schema

    def call(parser: Any, table: Any, key: str, *more: Any) -> Any:
        try:
            return parser(table, key, *more)
        except (ValueError, TypeError) as exc:
            message = str(exc)
            prefix = f"{key}: "
            fail(key, message[len(prefix) :] if message.startswith(prefix) else message)

    instruments: dict[str, Any] = {}
    raw = root.get("instruments")
    if not isinstance(raw, dict):
        fail("instruments", "expected a table of [instruments.<track>]")
    for track, table in raw.items():
        if track not in ("lead", "keys", "pad", "bass"):
            fail(f"instruments.{track}", "unknown track (lead, keys, pad, bass)")
        instruments[track] = call(synth_patch.parse_patch, table, f"instruments.{track}", folder)
    kit = call(synth_patch.parse_drum_kit, root.get("kit"), "kit") if "kit" in data else None
    root.used.add("kit")
    mix = call(synth_patch.parse_mix, root.get("mix", {}), "mix")
    return instruments, kit, mix


def load_pack(path: str | Path, name: str | None = None) -> StylePack:
    """Load and validate one pack file; its name is the file's stem unless ``name`` is given."""
    path = Path(path)
    name = path.stem if name is None else name
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise StyleError(f"style {name!r} ({path}): cannot read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise StyleError(f"style {name!r} ({path}): invalid TOML: {exc}") from None
    return parse_pack(data, name, str(path))


class StyleLibrary:
    """Every pack in a folder, loaded and validated up front, plus the installed ones.

    ``installed`` is the folder of installed packs (``edge.packs``), one folder per pack
    holding ``pack.toml``. They were checked when installed; one that no longer loads, or
    that takes a built-in pack's name, is left out with one log line (in ``skipped``),
    never a failure: the built-in packs always play.
    """

    def __init__(self, folder: str | Path = STYLES_DIR, installed: str | Path | None = None) -> None:
        self.folder = Path(folder)
        self.installed_folder = Path(installed) if installed is not None else None
        self.packs: dict[str, StylePack] = {}
        self.skipped: dict[str, str] = {}  # installed packs left out: name -> why
        for path in sorted(self.folder.glob("*.toml")):
            pack = load_pack(path)
            self.packs[pack.name] = pack
        if not self.packs:
            raise StyleError(f"no style packs found in {self.folder}")
        self.builtin = tuple(self.packs)  # the packs that ship with edge-music
        if self.installed_folder is not None:
            self._load_installed(self.installed_folder)

    def _load_installed(self, folder: Path) -> None:
        try:
            entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("installed packs in %s are not readable (%s); playing the built-in ones", folder, exc)
            return
        for entry in entries:
            if not entry.is_dir() or entry.is_symlink():
                continue
            if entry.name in self.packs:
                self.skipped[entry.name] = f"{entry}: takes the name of a built-in pack"
            else:
                try:
                    self.packs[entry.name] = load_pack(entry / PACK_FILE, entry.name)
                    continue
                except StyleError as exc:
                    self.skipped[entry.name] = str(exc)
            log.warning("installed pack left out: %s", self.skipped[entry.name])

    @property
    def names(self) -> tuple[str, ...]:
        """Pack names in alphabetical order."""
        return tuple(sorted(self.packs))

    def get(self, name: str) -> StylePack:
        """The pack called ``name``; raises StyleError naming the choices."""
        try:
            return self.packs[name]
        except KeyError:
            raise StyleError(f"unknown style {name!r} (choose from {', '.join(self.packs)})") from None
