"""WavSink: a standard RIFF WAV file that stays readable even if the daemon is killed."""

from __future__ import annotations

import contextlib
import logging
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np

from edge.audio.pacing import Pacer
from edge.audio.pcm import as_channels, sample_width, to_bytes
from edge.audio.sinks import Sink

log = logging.getLogger(__name__)

WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
_MAX_DATA = 0xFFFFFFFF - 64  # RIFF sizes are 32-bit; stop short of the limit


class WavSink(Sink):
    """Writes 16-bit PCM, 32-bit PCM or 32-bit float (WAVE_FORMAT_IEEE_FLOAT) WAV.

    The RIFF and data sizes are patched on close and also every
    ``patch_every_s`` seconds of audio, so a killed daemon leaves a file that
    players read up to the last patch. A disk that is full or read-only is
    logged once; later blocks are dropped, never raised. With ``realtime`` the
    sink takes blocks at wall-clock speed, like a sound card. A file reaching
    the 4 GiB RIFF limit (about 6 hours of 48 kHz 16-bit stereo) stops growing.

    ``info`` adds a RIFF LIST/INFO chunk before the audio, for players that show
    only that: e.g. ``{"ISFT": "edge-music 0.1.0", "INAM": title, "ICMT": comment}``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        rate: int = 48000,
        channels: int = 2,
        format: str = "S16_LE",
        period_frames: int = 1024,
        realtime: bool = False,
        patch_every_s: float = 1.0,
        info: Mapping[str, str] | None = None,
    ) -> None:
        self.path = Path(path).absolute()
        """Absolute path of the file being written."""
        super().__init__(rate, channels, period_frames, f"WAV {self.path}")
        self.format = format
        self.realtime = realtime
        self.width = sample_width(format)
        self.frames_written = 0
        """Frames that reached the file."""
        self.dropped_blocks = 0
        """Blocks dropped after a write failure."""
        self.failed: str | None = None
        """Why writing stopped (one line), or None while all is well."""
        self._file: BinaryIO | None = None
        self._data_bytes = 0
        self._patch_every = max(1, int(patch_every_s * rate))
        self._since_patch = 0
        self._pacer = Pacer(self.rate, lead_frames=self.period_frames)
        self._is_float = format == "FLOAT_LE"
        self._info = info_chunk(info) if info else b""

    # -- header -----------------------------------------------------------------

    def _header(self) -> bytes:
        block_align = self.channels * self.width
        tag = WAVE_FORMAT_IEEE_FLOAT if self._is_float else WAVE_FORMAT_PCM
        fmt = struct.pack(
            "<HHIIHH", tag, self.channels, self.rate, self.rate * block_align, block_align, self.width * 8
        )
        chunks = b""
        if self._is_float:
            # Non-PCM formats carry cbSize in fmt and need a fact chunk (frames per channel).
            fmt += struct.pack("<H", 0)
            chunks += b"fact" + struct.pack("<II", 4, self._data_bytes // block_align)
        chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + chunks + self._info
        chunks += b"data" + struct.pack("<I", self._data_bytes)
        return b"RIFF" + struct.pack("<I", 4 + len(chunks) + self._data_bytes) + b"WAVE" + chunks

    def _patch_header(self) -> None:
        assert self._file is not None
        end = self._file.tell()
        self._file.seek(0)
        self._file.write(self._header())
        self._file.seek(end)
        self._file.flush()
        self._since_patch = 0

    # -- failure handling -------------------------------------------------------

    def _fail(self, what: str, exc: OSError) -> None:
        """Log once, then drop audio: a full or read-only disk must not stop the music thread."""
        reason = exc.strerror or str(exc)
        self.failed = f"{what} {self.path}: {reason}"
        log.error("cannot %s; dropping audio from now on", self.failed)
        if self._file is not None:
            # Overwriting the header needs no new disk blocks, so it usually works on a full disk.
            with contextlib.suppress(OSError):
                self._patch_header()
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    # -- Sink -------------------------------------------------------------------

    def open(self) -> None:
        """Create (truncate) the file and write a header with zero sizes."""
        if self._file is not None or self.failed:
            return
        self._pacer.reset()
        self._data_bytes = 0
        self.frames_written = 0
        try:
            # Unbuffered: a full disk shows up on the write that hit it, and the
            # header never claims bytes still sitting in a Python buffer.
            self._file = open(self.path, "wb", buffering=0)  # noqa: SIM115 - lives until close()
            self._file.write(self._header())
        except OSError as exc:
            self._fail("write", exc)

    def write(self, block: np.ndarray) -> None:
        """Append one block (or drop it after a failure); paced when real-time."""
        if self._file is None and not self.failed:
            self.open()
        frames = len(block)
        if self._file is None:
            self.dropped_blocks += 1
        else:
            data = to_bytes(as_channels(block, self.channels), self.format)
            if self._data_bytes + len(data) > _MAX_DATA:
                self._fail("grow", OSError(0, "the 4 GiB WAV size limit is reached"))
                self.dropped_blocks += 1
            else:
                self._append(data, frames)
        if self.realtime:
            self._pacer.pace(frames)

    def _append(self, data: bytes, frames: int) -> None:
        assert self._file is not None
        view = memoryview(data)
        try:
            while view:
                n = self._file.write(view)
                if not n:
                    raise OSError(0, "write returned 0 bytes")
                self._data_bytes += n
                view = view[n:]
            self.frames_written += frames
            self._since_patch += frames
            if self._since_patch >= self._patch_every:
                self._patch_header()
        except OSError as exc:
            # Keep the header honest about the bytes that did land.
            self._data_bytes -= self._data_bytes % (self.channels * self.width)
            self._fail("write", exc)

    def close(self) -> None:
        """Patch the final sizes into the header and close the file."""
        if self._file is None:
            return
        try:
            self._patch_header()
            self._file.close()
        except OSError as exc:
            self._fail("finish", exc)
        self._file = None


def info_chunk(tags: Mapping[str, str]) -> bytes:
    """A RIFF ``LIST`` chunk of type ``INFO`` holding ``tags`` (four-letter ids such as ISFT, INAM, ICMT).

    Each value is UTF-8, NUL-terminated and padded to an even length, as RIFF requires.
    """
    body = b"INFO"
    for tag, value in tags.items():
        key = tag.encode("ascii")
        if len(key) != 4:
            raise ValueError(f"RIFF INFO ids are four characters, got {tag!r}")
        data = value.encode("utf-8", "replace") + b"\0"
        body += key + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")
    return b"LIST" + struct.pack("<I", len(body)) + body


def read_info(path: str | os.PathLike[str]) -> dict[str, str]:
    """The LIST/INFO tags of a RIFF WAV file ({} when it has none); raises ValueError if not RIFF WAVE."""
    tags: dict[str, str] = {}
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise ValueError("not a RIFF WAVE file")
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                return tags
            cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"LIST" and size >= 4 and size < 1 << 20:
                body = fh.read(size + (size & 1))
                if body[:4] == b"INFO":
                    pos = 4
                    while pos + 8 <= size:
                        sub, n = body[pos : pos + 4], struct.unpack_from("<I", body, pos + 4)[0]
                        value = body[pos + 8 : pos + 8 + n].split(b"\0", 1)[0]
                        tags[sub.decode("latin-1")] = value.decode("utf-8", "replace")
                        pos += 8 + n + (n & 1)
            else:
                fh.seek(size + (size & 1), os.SEEK_CUR)
