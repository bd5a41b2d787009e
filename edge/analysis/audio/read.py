"""Audio files read into mono samples at the transcriber's rate, with the work capped.

WAV is parsed here (RIFF chunks walked with every declared size checked against the bytes that
are there; PCM 8/16/24/32-bit and 32/64-bit float, plain or WAVE_FORMAT_EXTENSIBLE). FLAC and MP3
need a decoder: the ``soundfile`` binding of libsndfile (the ``audio`` extra; libsndfile 1.1+ reads
MP3) or the ``flac`` / ``ffmpeg`` command. A file that cannot be read is refused in one line naming
it and the problem (``AnalysisError``, exit 2): not a music file, too short, too long, corrupt, a
format whose decoder is missing. Channels are averaged; the rate is converted by a windowed-sinc
interpolator in numpy.
"""

from __future__ import annotations

import io
import math
import mmap
import os
import re
import shutil
import stat
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.analysis.midi_in import AnalysisError

RATE = 22050
"""Samples a second everything downstream works at (the transcription model's rate)."""
MIN_SECONDS = 2.0
"""The shortest audio analysed: a beat or a key needs a few seconds."""
MAX_SECONDS = 15 * 60.0
"""The longest audio analysed (15 minutes)."""
MAX_FILE_BYTES = 512 << 20
"""The largest file read (512 MiB: 15 minutes of 8-channel 48 kHz 16-bit WAV is 660 MB)."""
MAX_CHANNELS = 16
"""Channels a file may declare."""
MAX_CHUNKS = 4096
"""RIFF chunks walked before a WAV is called corrupt (real files have a handful)."""
DECODE_SECONDS = 120.0
"""The longest an outside decoder (flac, ffmpeg) may run on one file."""
_SUFFIX_KINDS = {".wav": "WAV", ".wave": "WAV", ".flac": "FLAC", ".mp3": "MP3", ".ogg": "Ogg", ".oga": "Ogg"}
AUDIO_SUFFIXES = tuple(_SUFFIX_KINDS)
"""Suffixes read as audio."""
_BLOCK_FRAMES = 1 << 18
"""Frames decoded at once."""
_TAPS = 16
"""Input samples each side of an output sample in the rate converter."""


@dataclass(frozen=True)
class Audio:
    """Mono samples at ``RATE`` and where they came from."""

    samples: np.ndarray
    """float32, -1..1 (not clipped), mono at RATE."""
    source_rate: int
    """The file's rate."""
    channels: int
    """The file's channels (averaged to one)."""
    format: str
    """Such as "WAV PCM 16-bit" or "FLAC (flac command)"."""

    @property
    def seconds(self) -> float:
        """Length in seconds."""
        return len(self.samples) / RATE


def is_audio(path: str | Path, head: bytes) -> bool:
    """Whether ``path`` is to be read as audio (by its suffix or its first bytes)."""
    if Path(path).suffix.lower() in AUDIO_SUFFIXES:
        return True
    return (
        (head[:4] == b"RIFF" and head[8:12] == b"WAVE")
        or head[:4] in (b"fLaC", b"OggS")
        or head[:3] == b"ID3"
        or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)
    )


def read_audio(path: str | Path) -> Audio:
    """Read ``path`` as audio; raises AnalysisError (one line naming the file) when it cannot."""
    samples, rate, channels, what = _decoded(path, keep=1)
    return Audio(_resample(_mono(samples), rate), rate, channels, what)


def read_stereo(path: str | Path, rate: int, scale: float = 1.0) -> tuple[np.ndarray, int, str]:
    """``path`` as it sounds, for playing: (frames x 2 int16 at ``rate``, the file's rate, its format).

    Both channels (a mono file's one twice; of more, the first two) through the same rate
    converter as ``read_audio``, times ``scale``, rounded and clipped to int16 chunk by chunk (no
    float copy of the output). AnalysisError (one line) as ``read_audio``.
    """
    _, samples, source_rate, what = _source(path)
    out = np.empty((_resampled_length(len(samples), source_rate, rate), 2), np.int16)
    for first, block in _stereo_blocks(samples, source_rate, rate, scale):
        out[first : first + len(block)] = block
    return out, source_rate, what


def stereo_into(path: str | Path, rate: int, scale: float, out) -> tuple[int, int, str, int]:
    """``read_stereo``'s samples written to the binary file ``out`` (frames x 2 int16, interleaved)
    a chunk at a time, so decoding holds a chunk, not the track: a PCM 16-bit WAV is read through
    a map of the file whose pages are let go as the converter passes them; other formats are
    decoded whole first, as ``read_stereo`` does. Returns (frames, the file's rate, its format, the
    largest ``abs`` of the int16 samples, with numpy's wrap at -32768); AnalysisError as
    ``read_stereo``; OSError when ``out`` cannot be written."""
    handle, samples, source_rate, what = _source(path)
    blocks = _stereo_blocks(samples, source_rate, rate, scale)
    try:
        start = 0 if handle is None else samples.ctypes.data - np.frombuffer(handle, np.uint8).ctypes.data
        peak, released = 0, 0
        for first, block in blocks:
            peak = max(peak, int(np.abs(block).max(initial=0)))
            block.tofile(out)
            if handle is None or not hasattr(mmap, "MADV_DONTNEED"):
                continue
            # Input read so far (less the converter's reach back): its pages go back to the cache.
            done = start + max(0, (first + len(block)) * source_rate // rate - 2 * _TAPS) * samples.strides[0]
            done -= done % mmap.PAGESIZE
            if done - released >= 1 << 22:
                handle.madvise(mmap.MADV_DONTNEED, 0, done)
                released = done
        return _resampled_length(len(samples), source_rate, rate), source_rate, what, peak
    finally:
        samples = blocks = None  # every view of the map gone: it can close
        if handle is not None:
            handle.close()


def _stereo_blocks(samples: np.ndarray, source_rate: int, rate: int, scale: float):
    """(first frame, frames x 2 int16) of ``samples`` at ``rate`` times ``scale``, a chunk at a time:
    both channels (a mono file's one twice; of more, the first two) through ``_resample_chunks``."""
    columns = [samples[:, min(channel, samples.shape[1] - 1)] for channel in range(2)]  # views
    left, right = (_resample_chunks(column, source_rate, rate) for column in columns)
    for (first, one), (_, two) in zip(left, right, strict=True):
        block = np.empty((len(one), 2), np.int16)
        for channel, chunk in enumerate((one, two)):
            block[:, channel] = np.clip(np.rint(chunk * (scale * 32767.0)), -32768, 32767)
        yield first, block


def _source(path: str | Path) -> tuple[mmap.mmap | None, np.ndarray, int, str]:
    """(the file's map or None, frames x channels samples, rate, format): a 16-bit PCM WAV as int16
    over a map of the file (nothing read until the converter reads it), anything else decoded whole
    (``_decoded``)."""
    mapped = _mapped_pcm16_wav(path)
    if mapped is not None:
        return mapped
    samples, rate, _, what = _decoded(path, keep=2)
    return None, samples, rate, what


def _mapped_pcm16_wav(path: str | Path) -> tuple[mmap.mmap, np.ndarray, int, str] | None:
    """A 16-bit PCM WAV as (its map, frames x channels int16 over the map, rate, format), or None
    for any other file, or one that cannot be mapped (the general path then says what is wrong)."""
    name = str(path).encode("utf-8", "backslashreplace").decode("utf-8")
    try:
        with open(path, "rb") as file:
            if file.read(4) != b"RIFF" or not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                return None
            if os.fstat(file.fileno()).st_size > MAX_FILE_BYTES:
                return None
            handle = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None
    try:
        tag, channels, rate, bits, payload = _wav_layout(name, handle)
        if (tag, bits) != (1, 16):
            payload.release()
            handle.close()
            return None
        frames = len(payload) // (2 * channels)
        samples = np.frombuffer(payload[: frames * 2 * channels], "<i2").reshape(frames, channels)
        payload.release()  # the array holds its own export of the map
    except BaseException:
        handle.close()
        raise
    return handle, samples, rate, "WAV PCM 16-bit"


def _decoded(path: str | Path, keep: int) -> tuple[np.ndarray, int, int, str]:
    """(frames x ``keep`` float32 at the file's rate, its rate, its channels, its format)."""
    name = str(path).encode("utf-8", "backslashreplace").decode("utf-8")
    try:
        with open(path, "rb") as handle:
            data = _read_capped(handle)
    except (OSError, ValueError) as exc:
        raise AnalysisError(f"{name}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    if not data:
        raise AnalysisError(f"{name}: empty file (0 bytes), not an audio file")
    if len(data) > MAX_FILE_BYTES:
        raise AnalysisError(f"{name}: larger than the {MAX_FILE_BYTES >> 20} MiB the analysis reads")
    if data[:4] == b"RIFF" or data[:4] == b"RIFX":
        samples, rate, channels, what = _wav(name, data, keep)
    elif data[:4] == b"fLaC":
        samples, rate, channels, what = _decode(name, path, data, "FLAC", ("flac",), keep)
    elif data[:3] == b"ID3" or (data[0] == 0xFF and len(data) > 1 and data[1] & 0xE0 == 0xE0):
        samples, rate, channels, what = _decode(name, path, data, "MP3", ("ffmpeg",), keep)
    elif data[:4] == b"OggS":
        samples, rate, channels, what = _decode(name, path, data, "Ogg", ("ffmpeg",), keep)
    else:
        kind = _SUFFIX_KINDS.get(Path(path).suffix.lower())
        if kind:
            raise _fail(name, f"not a {kind} file (its first bytes are not a {kind} header)")
        raise _fail(name, "not an audio file this reads (WAV, FLAC, MP3 with a decoder)")
    del data  # the bytes are decoded: let them go before the rate converter's copies
    return samples, rate, channels, what


def wav_seconds(path: str | Path) -> float | None:
    """The length of a WAV file from its header alone (None: not a WAV whose header says it).

    Only the chunk headers are read, so a library can refuse an over-long file before decoding it.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            size = os.fstat(handle.fileno()).st_size
            position, block_align, rate = 12, 0, 0
            for _ in range(MAX_CHUNKS):
                handle.seek(position)
                header = handle.read(8)
                if len(header) < 8:
                    return None
                kind, length = struct.unpack("<4sL", header)
                if kind == b"fmt ":
                    fmt = handle.read(16)
                    if len(fmt) < 16:
                        return None
                    _, _, rate, _, block_align, _ = struct.unpack("<HHLLHH", fmt)
                elif kind == b"data":
                    if not rate or not block_align:
                        return None
                    length = min(length, size - position - 8)
                    return length // block_align / rate
                position += 8 + length + (length & 1)
    except OSError:
        return None
    return None


def _read_capped(handle) -> bytes:
    """At most MAX_FILE_BYTES + 1 bytes, never a buffer larger than the file (read(n) allocates n)."""
    size = os.fstat(handle.fileno()).st_size
    if size and stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
        return handle.read(min(size, MAX_FILE_BYTES) + 1)
    parts, total = [], 0  # a pipe or a device: in pieces
    while total <= MAX_FILE_BYTES:
        part = handle.read(1 << 20)
        if not part:
            break
        parts.append(part)
        total += len(part)
    return b"".join(parts)


def _fail(name: str, problem: str) -> AnalysisError:
    return AnalysisError(f"{name}: {problem}")


def _check_length(name: str, frames: int, rate: int) -> None:
    seconds = frames / rate
    if seconds < MIN_SECONDS:
        raise _fail(name, f"audio too short ({seconds:.2f} s; at least {MIN_SECONDS:g} s is analysed)")
    if seconds > MAX_SECONDS:
        raise _fail(name, f"audio too long ({seconds / 60:.1f} min; at most {MAX_SECONDS / 60:g} min)")


def _wav(name: str, data: bytes, keep: int = 1) -> tuple[np.ndarray, int, int, str]:
    """(frames x ``keep`` float32, rate, channels, description) from a RIFF WAVE file: ``keep`` 1
    averages the channels, 2 keeps the first two (a mono file's one channel twice)."""
    tag, channels, rate, bits, payload = _wav_layout(name, data)
    return _wav_samples(name, tag, channels, rate, bits, payload, keep)


def _wav_layout(name: str, data: bytes) -> tuple[int, int, int, int, memoryview]:
    """(format tag, channels, rate, bits, the data chunk's bytes) of a RIFF WAVE file, checked."""
    if data[:4] == b"RIFX":
        raise _fail(name, "big-endian WAV (RIFX) is not supported")
    if len(data) < 12 or data[8:12] != b"WAVE":
        raise _fail(name, "a RIFF file that is not WAV audio")
    fmt: tuple[int, int, int, int] | None = None
    payload: memoryview | None = None
    position = 12
    view = memoryview(data)
    chunks = 0
    while position + 8 <= len(data):
        chunks += 1
        if chunks > MAX_CHUNKS:
            raise _fail(name, f"corrupt WAV: more than {MAX_CHUNKS} chunks")
        kind, size = struct.unpack("<4sL", data[position : position + 8])
        body = position + 8
        if kind == b"data":
            if size > len(data) - body:  # streamed WAVs declare 0xFFFFFFFF or too much: read what is there
                size = len(data) - body
            payload = view[body : body + size]
            if fmt is not None:
                break
        elif kind == b"fmt ":
            if size < 16 or body + size > len(data):
                raise _fail(name, "corrupt WAV: the format chunk is cut short")
            tag, channels, rate, _, _, bits = struct.unpack("<HHLLHH", data[body : body + 16])
            if tag == 0xFFFE and size >= 40:  # WAVE_FORMAT_EXTENSIBLE: the sub-format's first two bytes
                (tag,) = struct.unpack("<H", data[body + 24 : body + 26])
            fmt = (tag, channels, rate, bits)
        elif body + size > len(data):
            break  # a trailing chunk cut short: what came before may still be whole
        position = body + size + (size & 1)
    if fmt is None:
        raise _fail(name, "corrupt WAV: no format chunk")
    if payload is None:
        raise _fail(name, "corrupt WAV: no data chunk")
    tag, channels, rate, bits = fmt
    if not 1 <= channels <= MAX_CHANNELS:
        raise _fail(name, f"corrupt WAV: {channels} channels")
    if not 4000 <= rate <= 384000:
        raise _fail(name, f"WAV sample rate {rate} Hz is outside 4000-384000 Hz")
    if (tag, bits) not in ((1, 8), (1, 16), (1, 24), (1, 32), (3, 32), (3, 64)):
        what = {1: "PCM", 3: "float", 2: "ADPCM", 6: "A-law", 7: "µ-law", 0x55: "MP3"}.get(
            tag, f"format {tag}"
        )
        raise _fail(name, f"WAV {what} {bits}-bit is not supported (PCM 8/16/24/32-bit or float 32/64)")
    _check_length(name, len(payload) // (bits // 8 * channels), rate)
    return tag, channels, rate, bits, payload


def _wav_samples(
    name: str, tag: int, channels: int, rate: int, bits: int, payload: memoryview, keep: int
) -> tuple[np.ndarray, int, int, str]:
    """The samples of a WAV's data chunk (see ``_wav``)."""
    kinds = {(1, 8): "u1", (1, 16): "<i2", (1, 24): "i3", (1, 32): "<i4", (3, 32): "<f4", (3, 64): "<f8"}
    width = bits // 8
    frames = len(payload) // (width * channels)
    out = np.empty((frames, keep), np.float32)  # converted block by block: no full float copy
    for first in range(0, frames, _BLOCK_FRAMES):
        raw = payload[first * width * channels : min(first + _BLOCK_FRAMES, frames) * width * channels]
        if bits == 24:
            b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
            block = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8).astype(np.float32) / (1 << 23)
        else:
            block = np.frombuffer(raw, kinds[(tag, bits)]).astype(np.float32)
            if tag == 1:
                block = (block - 128) / 128 if bits == 8 else block / float(1 << (bits - 1))
        block = block.reshape(-1, channels)
        span = slice(first, first + len(block))
        if keep == 1:
            out[span, 0] = block.mean(axis=1)
        else:
            out[span] = block[:, [0, min(1, channels - 1)]]
    if not np.isfinite(out).all():
        raise _fail(name, "corrupt WAV: samples that are not numbers (NaN or infinite)")
    return out, rate, channels, f"WAV {'float' if tag == 3 else 'PCM'} {bits}-bit"


def _decode(
    name: str, path: str | Path, data: bytes, what: str, commands: tuple[str, ...], keep: int = 1
) -> tuple[np.ndarray, int, int, str]:
    """A compressed file through soundfile, else an outside command writing WAV to a pipe."""
    try:
        import soundfile  # the audio extra
    except ImportError:
        soundfile = None
    if soundfile is not None:
        try:
            info = soundfile.info(io.BytesIO(data))
            _check_length(name, info.frames, info.samplerate)
            values, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
        except AnalysisError:
            raise
        except Exception as exc:  # libsndfile's errors: an unknown or corrupt stream
            if not any(shutil.which(c) for c in commands):
                why = re.sub(r"Error opening <[^>]*>: ", "", " ".join(str(exc).split()))[:120]
                raise _fail(name, f"corrupt or unreadable {what} (libsndfile: {why})") from None
        else:
            if not len(values) or not np.isfinite(values).all():
                raise _fail(name, f"corrupt {what}: no samples, or samples that are not numbers")
            channels = values.shape[1]
            values = values[:, [0, min(1, channels - 1)]] if keep == 2 else values
            return values, rate, channels, f"{what} (libsndfile)"
    command = next((c for c in commands if shutil.which(c)), None)
    if command is None:
        raise _fail(
            name, f"{what} audio needs a decoder: pip install 'edge-music[audio]' (soundfile) or install "
            f"the {' or '.join(commands)} command; WAV is read without one",
        )  # fmt: skip
    argv = (
        ["flac", "-d", "-c", "-s", "-"]
        if command == "flac"
        else [
            "ffmpeg",
            "-v",
            "error",
            "-nostdin",
            "-i",
            "pipe:0",
            "-f",
            "wav",
            "-acodec",
            "pcm_s16le",
            "pipe:1",
        ]
    )
    try:
        done = subprocess.run(argv, input=data, capture_output=True, timeout=DECODE_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise _fail(name, f"{command} took over {DECODE_SECONDS:g} s to decode it") from None
    if done.returncode != 0 or not done.stdout:
        why = " ".join(done.stderr.decode("utf-8", "replace").split())[:120] or f"exit {done.returncode}"
        raise _fail(name, f"corrupt or unreadable {what} ({command}: {why})")
    values, rate, channels, _ = _wav(name, done.stdout, keep)
    return values, rate, channels, f"{what} ({command} command)"


def _mono(values: np.ndarray) -> np.ndarray:
    if values.shape[1] > 1:
        return values.mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(values[:, 0], dtype=np.float32)  # a view when it already is


def _resampled_length(count: int, rate: int, target: int) -> int:
    common = math.gcd(target, rate)
    return count * (target // common) // (rate // common)


def _resample(x: np.ndarray, rate: int, chunk: int = 1 << 13, target: int = RATE) -> np.ndarray:
    """``x`` at ``target``: polyphase Hann-windowed sinc, cut off below the lower Nyquist frequency."""
    if rate == target:
        return np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty(_resampled_length(len(x), rate, target), np.float32)
    for first, part in _resample_chunks(x, rate, target, chunk):
        out[first : first + len(part)] = part
    return out


def _resample_chunks(x: np.ndarray, rate: int, target: int, chunk: int = 1 << 13):
    """(first output sample, float32 samples) of ``x`` at ``target``, ``chunk`` samples at a time."""
    if rate == target:
        for first in range(0, len(x), chunk):
            yield first, np.asarray(x[first : first + chunk], dtype=np.float32)
        return
    common = math.gcd(target, rate)
    up, down = target // common, rate // common  # output j sits at input (j * down) / up
    cutoff = min(1.0, up / down) * 0.95  # of the input's Nyquist frequency
    offsets = np.arange(-_TAPS + 1, _TAPS + 1)
    distance = (np.arange(up) / up)[:, None] - offsets[None, :]
    window = 0.5 + 0.5 * np.cos(np.pi * distance / (_TAPS + 0.5))
    table = (cutoff * np.sinc(cutoff * distance) * window).astype(np.float32)  # (phase, tap)
    count = len(x) * up // down
    for first in range(0, count, chunk):
        position = np.arange(first, min(first + chunk, count), dtype=np.int64) * down
        base, phase = np.divmod(position, up)
        index = base[:, None] + offsets[None, :]
        taps = x[np.clip(index, 0, len(x) - 1)].astype(np.float32)  # no padded copy of x
        if x.dtype == np.int16:
            taps /= np.float32(32768.0)  # exact: the same floats as PCM 16-bit read as float
        taps[(index < 0) | (index >= len(x))] = 0.0
        yield first, np.einsum("ij,ij->i", taps, table[phase])
