"""The original of an audio track: the audio itself, on the reimagined version's beat grid.

At load (the library's loader thread, never the audio thread) the file is decoded, both channels
resampled to the daemon's rate by the analysis's own windowed-sinc converter (numpy,
deterministic), and kept once as int16 with 6 dB of headroom (``HEADROOM``: the converter's
overshoot on a full-scale file is not clipped; 15 bits left, noise some 90 dB under full scale):
about 11 MiB a minute at 48 kHz. The daemon decodes them straight into a nameless file in the
state directory (``spool_decoded``: a 16-bit WAV a chunk at a time, through a map of the file
whose pages are let go as it goes; other formats are decoded whole first), measures the loudness
from that file, and reads each span from it (the page cache) as it is laid, so a track of any
length adds one span to the RSS instead of its minutes, while it plays and while it is decoded
(the kernel keeps the file's pages as cache it can reclaim, and reads them back if it did).

Its loudness is measured once (BS.1770: K-weighting applied to each 100 ms block's power
spectrum, 400 ms gated blocks) and a fixed gain brings it to the daemon's target
(``audio.loudness_lufs``), lowered where the target would push the file's sample peak over
-1 dBFS (the original has no limiter).

Time alignment: the reimagined bars play at the original's own tempo map (``deck.follow_original``)
so bar b of both lasts as long; each bar of audio is laid from the frame where the deck's bar b
starts, from the sample nearest that bar's downbeat in the file. The grid's frame rounding (under
half a frame a bar) therefore never accumulates: every downbeat of the original lands on the
frame of the reimagined downbeat, to the nearest sample, for the whole track.
"""

from __future__ import annotations

import bisect
import functools
import logging
import math
import mmap
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.analysis.audio.read import read_stereo, stereo_into
from edge.digest import sha256_of
from edge.exits import UsageError
from edge.render.kweighting import power_weights

log = logging.getLogger(__name__)

HEADROOM = 0.5
"""Scale of the stored int16 samples (6 dB under full scale)."""
PEAK_CEILING_DB = -1.0
"""The loudness gain never takes the file's sample peak above this (dBFS)."""
ABSOLUTE_GATE = -70.0
"""BS.1770's absolute gate (LUFS)."""
RELATIVE_GATE = -10.0
"""BS.1770's relative gate (LU under the absolutely gated loudness)."""


@dataclass(eq=False)
class DecodedAudio:
    """A track's audio at the daemon's rate, as the original plays it (one copy per track)."""

    samples: np.ndarray
    """frames x 2 int16, scaled by HEADROOM."""
    rate: int
    """Frames a second."""
    sha256: str
    """The digest of the file decoded."""
    loudness_lufs: float
    """The file's integrated loudness as it is."""
    gain_db: float
    """The fixed gain applied when it plays."""
    spooled: Any = None
    """The file ``samples`` lie in (``spool``: ``samples`` is a read-only map of it), or None: they
    are in memory."""

    def read(self, low: int, high: int) -> np.ndarray:
        """Frames ``low``..``high`` (within ``samples``), frames x 2 int16: a spooled copy reads them
        from its file (the page cache) into a new array, leaving the map untouched, so the RSS
        never holds more of the track than one span; else a view of ``samples``."""
        if self.spooled is None:
            return self.samples[low:high]
        return read_spooled(self.spooled, low, high)

    @property
    def factor(self) -> float:
        """int16 sample -> float32 output, gain included."""
        return 10.0 ** (self.gain_db / 20.0) / (HEADROOM * 32767.0)

    @property
    def seconds(self) -> float:
        """Its length."""
        return len(self.samples) / self.rate


def decode_original(
    path: Path, sha256: str, rate: int, target_lufs: float, max_seconds: float, spool_dir: Path | None = None
) -> DecodedAudio:
    """Decode ``path`` for playing; UsageError (one line) when it changed since ``sha256`` was taken,
    is longer than ``max_seconds`` or cannot be read. ``spool_dir``: the samples go to a nameless file
    there (``spool``) instead of staying in memory."""
    if sha256_of(path) != sha256:
        raise UsageError(f"{path.name} changed since the library was scanned (rescan: SIGHUP)")
    spooled = None
    if spool_dir is not None:
        try:
            samples, spooled, largest = spool_decoded(path, rate, spool_dir)
        except UsageError:  # the file itself cannot be read
            raise
        except (OSError, ValueError) as exc:  # a full or read-only disk: it plays from memory
            log.warning("%s: cannot spool the decoded audio to %s (%s); it plays from memory", path.name,
                        spool_dir, exc)  # fmt: skip
    if spooled is None:
        samples, _, _ = read_stereo(path, rate, HEADROOM)
        largest = int(np.abs(samples).max(initial=0))
    seconds = len(samples) / rate
    if seconds > max_seconds:
        if spooled is not None:
            spooled.close()
        raise UsageError(f"{seconds:.0f} s of audio is over library.max_audio_seconds ({max_seconds:g} s)")
    reader = None if spooled is None else functools.partial(read_spooled, spooled)
    measured = integrated_loudness(samples, rate, reader) - 20.0 * math.log10(HEADROOM)
    peak = largest / (HEADROOM * 32767.0)
    gain = 0.0 if not math.isfinite(measured) else target_lufs - measured
    if peak > 0:
        gain = min(gain, PEAK_CEILING_DB - 20.0 * math.log10(peak))
    log.info("%s: %.1f s at %d Hz, %.1f LUFS, played %+.1f dB", path.name, seconds, rate, measured, gain)
    return DecodedAudio(samples, rate, sha256, round(measured, 2), round(gain, 4), spooled)


FRAME_BYTES = 4
"""A stereo int16 frame."""


def spool_decoded(path: Path, rate: int, folder: Path) -> tuple[np.ndarray, Any, int]:
    """``path`` decoded as the original plays it (``read_stereo`` at ``rate``, HEADROOM) straight into
    a nameless file in ``folder``, a chunk at a time (``stereo_into``): decoding a track holds a
    chunk of it, not its minutes. (a read-only array over a map of the file, the open file, the
    largest abs of the samples); AnalysisError when the file cannot be read, OSError when the
    folder cannot be written."""
    folder.mkdir(parents=True, exist_ok=True)
    handle = tempfile.TemporaryFile(dir=folder, prefix="decoded-")  # noqa: SIM115 (it outlives the call)
    try:
        frames, _, _, largest = stereo_into(path, rate, HEADROOM, handle)
        handle.flush()
        if not frames:
            handle.close()
            return np.zeros((0, 2), np.int16), None, 0
        mapped = mmap.mmap(handle.fileno(), frames * FRAME_BYTES, access=mmap.ACCESS_READ)
    except BaseException:
        handle.close()
        raise
    return np.frombuffer(mapped, dtype=np.int16).reshape(-1, 2), handle, largest


def read_spooled(handle: Any, low: int, high: int) -> np.ndarray:
    """Frames ``low``..``high`` of a spooled file, frames x 2 int16, read into a new array (the page
    cache's copy; nothing of the file is mapped into the process)."""
    span = np.empty((high - low, 2), np.int16)
    done = os.preadv(handle.fileno(), [span], low * FRAME_BYTES)
    if done != span.nbytes:  # the spooled file is ours alone: only a failing disk gets here
        raise OSError(f"read {done} of {span.nbytes} bytes of the spooled audio")
    return span


def integrated_loudness(
    samples: np.ndarray, rate: int, read: Callable[[int, int], np.ndarray] | None = None
) -> float:
    """BS.1770 integrated loudness (LUFS) of frames x channels samples (full scale 32767 for int16;
    -inf when every block is under the absolute gate); ``read(low, high)``, when given, reads their
    frames instead of indexing ``samples`` (a spooled track: nothing of it is mapped in)."""
    sub = rate // 10  # 100 ms: a 400 ms block with 75 % overlap is four of them
    count = len(samples) // sub
    if count < 4:
        return -math.inf
    weight = power_weights(sub, rate)
    scale = 32767.0 if samples.dtype == np.int16 else 1.0
    power = np.zeros(count)
    for first in range(0, count, 32):  # 3.2 s at a time: a few MiB of float64
        last = min(first + 32, count)
        span = samples[first * sub : last * sub] if read is None else read(first * sub, last * sub)
        for channel in range(samples.shape[1]):
            x = span[:, channel].astype(np.float64).reshape(-1, sub) / scale
            spectrum = np.fft.rfft(x, axis=1)
            power[first:last] += (np.abs(spectrum) ** 2 @ weight) / (sub * sub)
    blocks = np.convolve(power, np.ones(4) / 4, mode="valid")
    loudness = -0.691 + 10.0 * np.log10(np.maximum(blocks, 1e-30))
    gated = blocks[loudness > ABSOLUTE_GATE]
    if not len(gated):
        return -math.inf
    relative = -0.691 + 10.0 * math.log10(gated.mean()) + RELATIVE_GATE
    kept = blocks[(loudness > ABSOLUTE_GATE) & (loudness > relative)]
    return -0.691 + 10.0 * math.log10(kept.mean())


class AudioOriginal:
    """Plays ``audio`` bar by bar from the deck's bar lines (``starts``), each bar from the file's
    sample at that bar's downbeat (``anchors``, seconds); loops with ``repeat`` like the deck."""

    def __init__(
        self, audio: DecodedAudio, starts: Sequence[int], anchors: Sequence[float], repeat: bool
    ) -> None:
        if len(anchors) != len(starts) - 1:
            raise ValueError("one anchor a bar")
        self.audio = audio
        self._starts = list(starts)
        self._anchors = [round(a * audio.rate) for a in anchors]
        self._repeat = repeat
        self._factor = np.float32(audio.factor)
        self.frame = 0
        """Frames rendered so far."""

    def source_index(self, frame: int) -> int:
        """The sample of the decoded audio that plays at deck frame ``frame`` (may be outside it)."""
        end = self._starts[-1]
        if self._repeat:
            frame %= end
        bar = min(bisect.bisect_right(self._starts, frame) - 1, len(self._anchors) - 1)
        return self._anchors[bar] + frame - self._starts[bar]

    def render_block(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames of stereo float32."""
        out = np.zeros((frames, 2), np.float32)
        samples = self.audio.samples
        done = 0
        while done < frames:
            frame = self.frame + done
            span = frames - done
            position = frame % self._starts[-1] if self._repeat else frame
            following = bisect.bisect_right(self._starts, position)
            if following < len(self._starts) - 1 or (self._repeat and following < len(self._starts)):
                span = min(span, self._starts[following] - position)  # up to the next bar line
            source = self.source_index(frame)
            low, high = max(source, 0), min(source + span, len(samples))
            if low < high:
                out[done + low - source : done + high - source] = self.audio.read(low, high)
            done += span
        self.frame += frames
        out *= self._factor
        return out
