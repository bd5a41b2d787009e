"""Key-mapped samples: a pack's own WAV files, or an SFZ instrument, played by numpy.

FluidSynth plays SoundFonts (``edge.render.sampled``) but neither SFZ files nor
loose WAV files, so those two take this small sampler: each region maps one WAV
file onto a key and velocity range with a root key; a note is its region's
sample resampled to the note's pitch (linear interpolation, ``np.interp``, one
call per channel, no per-sample Python), looped where the region loops, under a
linear attack and release. Samples are decoded once, when the pack that uses
them becomes the current sound, and dropped when it stops being.

The SFZ subset read: headers ``<control>`` (``default_path``), ``<global>``,
``<master>``, ``<group>`` and ``<region>`` (each level's opcodes inherited by the
regions below it), and the opcodes in OPCODES. Other opcodes are ignored (one
log line lists them); a value that cannot be read is one error naming the file,
the line and the opcode. Samples must be PCM WAV files (8, 16, 24 or 32-bit).
"""

from __future__ import annotations

import logging
import math
import re
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MIN_ATTACK_S = 0.003
"""Shortest attack used, so a sample never clicks on."""
MIN_RELEASE_S = 0.008
"""Shortest release used, so a note never clicks off."""
NOTE_NAMES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


class KeymapError(ValueError):
    """A key map or an SFZ file cannot be read; ``str()`` is one line naming the file and what."""


@dataclass(frozen=True)
class Region:
    """One sample mapped onto a range of keys and velocities."""

    sample: Path
    """The WAV file."""
    lokey: int = 0
    """Lowest MIDI key played by this sample."""
    hikey: int = 127
    """Highest MIDI key played by this sample."""
    lovel: int = 1
    """Lowest velocity."""
    hivel: int = 127
    """Highest velocity."""
    root: int = 60
    """The key at which the sample sounds as recorded."""
    tune: float = 0.0
    """Cents added to the pitch."""
    volume: float = 0.0
    """Level in dB."""
    pan: float = 0.0
    """-1 (left) .. 1 (right)."""
    loop: tuple[int, int] | None = None
    """Frames (start, end) looped while the note is held (and through its release)."""
    attack: float = MIN_ATTACK_S
    """Attack time in seconds."""
    release: float = 0.2
    """Release time in seconds after the note-off (a one-shot sample may end before)."""
    offset: int = 0
    """Frames skipped at the start of the sample."""


def note_number(text: str | int, where: str) -> int:
    """A MIDI key from 60, "60", "c4" or "C#4"/"db4" (middle C = c4 = 60, as in SFZ)."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        word = str(text).strip().lower()
        match = re.fullmatch(r"([a-g])([#b]?)(-?\d+)", word)
        if word.lstrip("-").isdigit():
            value = int(word)
        elif match:
            name, accidental, octave = match.groups()
            value = NOTE_NAMES[name] + {"#": 1, "b": -1, "": 0}[accidental] + 12 * (int(octave) + 1)
        else:
            raise KeymapError(f"{where}: {text!r} is not a MIDI key (0..127 or a name like c4, f#3)")
    if not 0 <= value <= 127:
        raise KeymapError(f"{where}: {text!r} is outside the MIDI keys 0..127")
    return value


def regions_from_samples(
    samples: Sequence[tuple[int, str]], attack: float, release: float
) -> tuple[Region, ...]:
    """A pack's key map: each sample plays from its root key halfway to its neighbours'."""
    ordered = sorted(samples)
    regions = []
    for i, (root, path) in enumerate(ordered):
        low = 0 if i == 0 else (ordered[i - 1][0] + root) // 2 + 1
        high = 127 if i == len(ordered) - 1 else (root + ordered[i + 1][0]) // 2
        regions.append(Region(Path(path), low, high, root=root, attack=attack, release=release))
    return tuple(regions)


OPCODES = (
    "sample", "lokey", "hikey", "key", "pitch_keycenter", "lovel", "hivel", "tune", "transpose", "volume",
    "pan", "loop_mode", "loopmode", "loop_start", "loopstart", "loop_end", "loopend", "ampeg_attack",
    "ampeg_release", "offset", "default_path",
)  # fmt: skip
"""SFZ opcodes this sampler reads."""
_HEADER = re.compile(r"<(\w+)>")
_OPCODE = re.compile(r"(\w+)=")


def _sfz_tokens(text: str) -> list[tuple[int, str, str]]:
    """(line, header or opcode, value) in order; a value runs to the next opcode or header (sample
    names may hold spaces)."""
    tokens: list[tuple[int, str, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("//", 1)[0]
        marks = sorted(
            [(m.start(), m.end(), "header", m.group(1)) for m in _HEADER.finditer(line)]
            + [(m.start(), m.end(), "opcode", m.group(1)) for m in _OPCODE.finditer(line)]
        )
        for i, (_, end, kind, name) in enumerate(marks):
            if kind == "header":
                tokens.append((number, f"<{name}>", ""))
            else:
                stop = marks[i + 1][0] if i + 1 < len(marks) else len(line)
                tokens.append((number, name, line[end:stop].strip()))
    return tokens


def parse_sfz(path: Path) -> tuple[Region, ...]:
    """The regions of an SFZ file; raises KeymapError naming the file, line and opcode."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise KeymapError(f"{path}: cannot read: {exc.strerror}") from None
    levels: dict[str, dict[str, tuple[int, str]]] = {"global": {}, "master": {}, "group": {}, "region": {}}
    default_path = ""
    regions: list[Region] = []
    ignored: set[str] = set()
    current: str | None = None

    def close_region() -> None:
        if current == "region":
            merged = {**levels["global"], **levels["master"], **levels["group"], **levels["region"]}
            regions.append(_region(merged, path, default_path))

    for number, name, value in _sfz_tokens(text):
        if name.startswith("<"):
            close_region()
            current = name[1:-1]
            if current in levels:
                levels[current] = {}
                below = {"global": ("master", "group"), "master": ("group",)}.get(current, ())
                for level in below:
                    levels[level] = {}
            continue
        if current == "control":
            if name == "default_path":
                default_path = value.replace("\\", "/")
            else:
                ignored.add(name)
        elif current in levels:
            if name in OPCODES:
                levels[current][name] = (number, value)
            else:
                ignored.add(name)
    close_region()
    if ignored:
        log.info("%s: opcodes not played by this sampler: %s", path, ", ".join(sorted(ignored)))
    if not regions:
        raise KeymapError(f"{path}: no <region> with a sample")
    return tuple(regions)


def _region(opcodes: dict[str, tuple[int, str]], path: Path, default_path: str) -> Region:
    def number(name: str, low: float, high: float, default: float) -> float:
        if name not in opcodes:
            return float(default)
        line, text = opcodes[name]
        try:
            value = float(text)
        except ValueError:
            raise KeymapError(f"{path}:{line}: {name}: {text!r} is not a number") from None
        if not (low <= value <= high) or not math.isfinite(value):
            raise KeymapError(f"{path}:{line}: {name}: {text!r} is outside {low:g}..{high:g}")
        return value

    def key(name: str, default: int) -> int:
        if name not in opcodes:
            return default
        line, text = opcodes[name]
        return note_number(text, f"{path}:{line}: {name}")

    if "sample" not in opcodes:
        raise KeymapError(f"{path}: a <region> has no sample")
    sample = (path.parent / (default_path + opcodes["sample"][1].replace("\\", "/"))).resolve()
    lokey, hikey = key("lokey", 0), key("hikey", 127)
    if "key" in opcodes:
        lokey = hikey = key("key", 60)
    root = key("pitch_keycenter", key("key", lokey if "lokey" in opcodes else 60))
    mode = opcodes.get("loop_mode", opcodes.get("loopmode", (0, "no_loop")))[1]
    loop = None
    if mode in ("loop_continuous", "loop_sustain"):
        start = int(number("loop_start", 0, 2**31, number("loopstart", 0, 2**31, 0)))
        end = int(number("loop_end", 0, 2**31, number("loopend", 0, 2**31, -1)))
        loop = (start, end)  # end -1: the sample's last frame (known once decoded)
    return Region(
        sample=sample,
        lokey=lokey,
        hikey=hikey,
        lovel=int(number("lovel", 1, 127, 1)),
        hivel=int(number("hivel", 1, 127, 127)),
        root=root,
        tune=number("tune", -2400, 2400, 0) + 100 * number("transpose", -127, 127, 0),
        volume=number("volume", -144, 48, 0),
        pan=number("pan", -100, 100, 0) / 100,
        loop=loop,
        attack=max(MIN_ATTACK_S, number("ampeg_attack", 0, 100, 0)),
        release=max(MIN_RELEASE_S, number("ampeg_release", 0, 100, 0.001)),
        offset=int(number("offset", 0, 2**31, 0)),
    )


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """(channels, frames) float32 in -1..1 and the file's sample rate; KeymapError if unreadable."""
    try:
        with wave.open(str(path), "rb") as fh:
            width, channels, rate = fh.getsampwidth(), fh.getnchannels(), fh.getframerate()
            raw = fh.readframes(fh.getnframes())
    except FileNotFoundError:
        raise KeymapError(f"{path}: no such sample") from None
    except (OSError, EOFError, wave.Error) as exc:
        raise KeymapError(f"{path}: not a PCM WAV file ({exc})") from None
    if width == 1:
        data = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        data = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 3:
        bytes3 = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        value = bytes3[:, 0] | (bytes3[:, 1] << 8) | (bytes3[:, 2] << 16)
        data = (np.where(value >= 1 << 23, value - (1 << 24), value) / float(1 << 23)).astype(np.float32)
    else:
        data = (np.frombuffer(raw, dtype="<i4") / float(1 << 31)).astype(np.float32)
    return np.ascontiguousarray(data.reshape(-1, channels).T), rate


class KeymapInstrument:
    """Plays a set of regions; their samples decoded once, at construction."""

    def __init__(self, regions: Sequence[Region], sample_rate: int) -> None:
        self.regions = tuple(regions)
        self.sample_rate = sample_rate
        self._samples: dict[Path, tuple[np.ndarray, int]] = {}
        for region in self.regions:
            if region.sample not in self._samples:
                self._samples[region.sample] = read_wav(region.sample)

    @property
    def nbytes(self) -> int:
        """Memory held by the decoded samples."""
        return sum(data.nbytes for data, _ in self._samples.values())

    def render(self, notes: Sequence[tuple[int, int]], gate: int) -> np.ndarray:
        """(2, frames) float32: every region matching each (pitch, velocity), held ``gate`` frames."""
        voices = [
            (region, pitch, velocity)
            for pitch, velocity in notes
            for region in self.regions
            if region.lokey <= pitch <= region.hikey and region.lovel <= velocity <= region.hivel
        ]
        gate = max(1, gate)
        length = gate + max((round(r.release * self.sample_rate) for r, _, _ in voices), default=1)
        out = np.zeros((2, length), dtype=np.float32)
        for region, pitch, velocity in voices:
            self._voice(region, pitch, velocity, gate, out)
        return out

    def _voice(self, region: Region, pitch: int, velocity: int, gate: int, out: np.ndarray) -> None:
        data, rate = self._samples[region.sample]
        frames = data.shape[1]
        step = 2 ** ((pitch - region.root) / 12 + region.tune / 1200) * rate / self.sample_rate
        n = gate + round(region.release * self.sample_rate)
        position = region.offset + np.arange(n, dtype=np.float64) * step
        if region.loop is not None:
            start, end = region.loop
            end = frames - 1 if end < 0 else min(end, frames - 1)
            if end - start >= 2:
                past = position >= end
                position[past] = start + np.mod(position[past] - start, end - start)
        position = position[position <= frames - 1]
        n = len(position)
        if n == 0:
            return
        envelope = np.ones(n, dtype=np.float32)
        attack = min(n, max(1, round(max(MIN_ATTACK_S, region.attack) * self.sample_rate)))
        envelope[:attack] = np.arange(1, attack + 1, dtype=np.float32) / attack
        if gate < n:
            release = max(1, round(max(MIN_RELEASE_S, region.release) * self.sample_rate))
            envelope[gate:] *= np.maximum(0.0, 1.0 - np.arange(1, n - gate + 1, dtype=np.float32) / release)
        amp = 10 ** (region.volume / 20) * (velocity / 127.0) ** 2
        angle = (region.pan + 1.0) * np.pi / 4
        index = np.arange(frames, dtype=np.float64)
        for channel in range(2):
            source = data[min(channel, data.shape[0] - 1)]
            # A mono sample is panned; a stereo one keeps its image, pan acting as balance.
            side = (
                (np.cos(angle), np.sin(angle))[channel]
                if data.shape[0] == 1
                else min(1, 1 - region.pan * (1 - 2 * channel))
            )
            wave_ = np.interp(position, index, source).astype(np.float32)
            out[channel, :n] += wave_ * envelope * np.float32(amp * side)
