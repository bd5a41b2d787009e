"""AlsaSink (a sound card through pyalsaaudio) and probe_alsa.

A USB DAC can vanish at any time and come back later. AlsaSink never raises
into the player for that: it drops audio, paced to wall-clock so the sink
thread does not spin, and reopens the device with a doubling back-off until
it answers again.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import logging
import os
import sys
import time
from collections.abc import Iterator

import numpy as np

from edge.audio.bursts import BurstLog
from edge.audio.pacing import Pacer
from edge.audio.pcm import FORMATS, as_channels, sample_width, to_bytes
from edge.audio.sinks import Sink

try:
    import alsaaudio
except ImportError:  # pragma: no cover - only on machines without ALSA (e.g. a dev laptop)
    alsaaudio = None

log = logging.getLogger(__name__)

BACKOFF_START_S = 0.1
# Capped below 2 s so a returning device is picked up within 2 s of coming back.
BACKOFF_MAX_S = 1.6
_MAX_ATTEMPTS = 4  # writes of one block before its device counts as broken


# -- keeping alsa-lib quiet -----------------------------------------------------

# alsa-lib's thread-local error handler (alsa-lib >= 1.1.6): silences only the
# calling thread, unlike redirecting fd 2, which would also swallow the log
# lines of every other thread. Signature: (file, line, func, err, fmt, va_list).
_HANDLER = ctypes.CFUNCTYPE(
    None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p
)


def _ignore(*_args: object) -> None:
    return None


_NOOP_HANDLER = _HANDLER(_ignore)  # module-level: must outlive every call into alsa-lib
_set_local = None
try:
    _libasound = ctypes.CDLL(ctypes.util.find_library("asound") or "libasound.so.2")
    _set_local = _libasound.snd_lib_error_set_local
    _set_local.restype = ctypes.c_void_p
    _set_local.argtypes = [ctypes.c_void_p]
except (OSError, AttributeError):  # pragma: no cover - old or missing alsa-lib
    _set_local = None


@contextlib.contextmanager
def alsa_errors_silenced() -> Iterator[None]:
    """Drop alsa-lib's error messages raised by this thread inside the block."""
    if _set_local is None:
        yield
        return
    previous = _set_local(ctypes.cast(_NOOP_HANDLER, ctypes.c_void_p))
    try:
        yield
    finally:
        _set_local(previous)


@contextlib.contextmanager
def stderr_silenced() -> Iterator[None]:
    """Point fd 2 at /dev/null for the block (catches plugins that print directly).

    Process-wide, so only for short calls made while nothing else matters,
    such as the start-up probe.
    """
    with contextlib.suppress(AttributeError, ValueError, OSError):
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
        finally:
            os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# -- opening --------------------------------------------------------------------


def _alsa_format(fmt: str) -> int:
    return {"S16_LE": alsaaudio.PCM_FORMAT_S16_LE, "S32_LE": alsaaudio.PCM_FORMAT_S32_LE,
            "FLOAT_LE": alsaaudio.PCM_FORMAT_FLOAT_LE}[fmt]


def _reason(exc: Exception) -> str:
    """pyalsaaudio says "No such file or directory [hw:1]"; keep the part before the device."""
    text = " ".join(str(exc).split())
    if text.endswith("]") and " [" in text:
        text = text[: text.rindex(" [")]
    return text or type(exc).__name__


def _open_pcm(device: str, rate: int, channels: int, fmt: str, period_frames: int, periods: int,
              nonblock: bool) -> alsaaudio.PCM:
    return alsaaudio.PCM(
        type=alsaaudio.PCM_PLAYBACK,
        mode=alsaaudio.PCM_NONBLOCK if nonblock else alsaaudio.PCM_NORMAL,
        device=device,
        rate=rate,
        channels=channels,
        format=_alsa_format(fmt),
        periodsize=period_frames,
        periods=periods,
    )


def _try_open(device: str, rate: int, channels: int, fmt: str, period_frames: int,
              periods: int) -> tuple[alsaaudio.PCM | None, str | None]:
    """(pcm, None) or (None, reason). Never raises for device trouble."""
    if alsaaudio is None:
        return None, "pyalsaaudio is not installed"
    with alsa_errors_silenced():
        try:
            # A non-blocking probe first: opening a busy hw device in blocking
            # mode waits until it is free, which would hang the sink thread.
            _open_pcm(device, rate, channels, fmt, period_frames, periods, nonblock=True).close()
            return _open_pcm(device, rate, channels, fmt, period_frames, periods, nonblock=False), None
        except alsaaudio.ALSAAudioError as exc:
            return None, _reason(exc)


def probe_alsa(device: str, rate: int = 48000, channels: int = 2, format: str = "S16_LE") -> str | None:
    """None if ``device`` opens for playback, else one line saying why not.

    alsa-lib's own messages ("cannot find card '0'" and the like) are kept
    off stderr during the probe, so the caller can print one clean line.
    """
    if alsaaudio is None:
        return "pyalsaaudio is not installed"
    with stderr_silenced(), alsa_errors_silenced():
        try:
            _open_pcm(device, rate, channels, format, 1024, 4, nonblock=True).close()
        except alsaaudio.ALSAAudioError as exc:
            return _reason(exc)
    return None


# -- the sink -------------------------------------------------------------------


class AlsaSink(Sink):
    """A sound card (any ALSA PCM name) through pyalsaaudio.

    Underruns (-EPIPE) are counted in ``underruns``, logged once per burst and
    recovered by writing the block again. A device that is missing at open or
    lost mid-play is reopened with back-off (0.1 s doubling to 1.6 s) while
    blocks are dropped at wall-clock pace; one line says which device it is
    waiting for, another when it is back. ALSA may grant other settings than
    asked: the sink converts channels and sample format to what was granted.
    """

    def __init__(
        self,
        device: str = "default",
        rate: int = 48000,
        channels: int = 2,
        format: str = "S16_LE",
        period_frames: int = 1024,
        periods: int = 4,
    ) -> None:
        super().__init__(rate, channels, period_frames, f"ALSA {device}")
        sample_width(format)  # reject an unknown format now, not in the audio thread
        self.device = device
        self.format = format
        self.periods = periods
        self.frames_written = 0
        """Frames ALSA accepted."""
        self.dropped_blocks = 0
        """Blocks dropped while the device was away."""
        self.granted: dict[str, object] = {}
        """What ALSA granted at the last open (from PCM.info()): format_name, channels, rate, ..."""
        self._pcm: alsaaudio.PCM | None = None
        self._opened = False
        self._waiting = False
        self._backoff = BACKOFF_START_S
        self._next_try = 0.0
        self._out_format = format
        self._out_channels = channels
        self._frame_bytes = channels * sample_width(format)
        self._pacer = Pacer(self.rate, lead_frames=self.period_frames)
        self._xruns = BurstLog(log, f"underrun on ALSA device '{device}' (writing again)")

    @property
    def connected(self) -> bool:
        """True while the device is open."""
        return self._pcm is not None

    def open(self) -> None:
        """Open the device; if it is not there, log it once and keep trying on later writes."""
        if self._opened:
            return
        self._opened = True
        self._attach(first=True)

    def _attach(self, first: bool = False) -> bool:
        pcm, reason = _try_open(self.device, self.rate, self.channels, self.format,
                                self.period_frames, self.periods)
        if pcm is None:
            if not self._waiting:
                verb = "no" if first else "lost"
                log.warning("%s playback device '%s' (%s); waiting for it", verb, self.device, reason)
                self._waiting = True
                self._backoff = BACKOFF_START_S
            else:
                self._backoff = min(self._backoff * 2, BACKOFF_MAX_S)
            self._next_try = time.monotonic() + self._backoff
            return False
        if not self._accept(pcm):
            return False
        self._pcm = pcm
        if self._waiting:
            log.info("playback device '%s' is back", self.device)
        self._waiting = False
        self._backoff = BACKOFF_START_S
        return True

    def _accept(self, pcm: alsaaudio.PCM) -> bool:
        """Read back what ALSA granted and adapt to it; False if it is unusable."""
        info = pcm.info()
        self.granted = info
        fmt = str(info.get("format_name", self.format))
        channels = int(info.get("channels", self.channels))
        rate = int(info.get("rate", self.rate))
        if fmt not in FORMATS:
            self._close_pcm(pcm, drain=False)
            if not self._waiting:
                log.error("playback device '%s' only takes %s (usable: %s); use a plughw: or "
                          "default device; waiting", self.device, fmt, ", ".join(FORMATS))
                self._waiting = True
            self._next_try = time.monotonic() + BACKOFF_MAX_S
            return False
        if rate != self.rate:
            log.warning("playback device '%s' runs at %d Hz, not %d: pitch and tempo will be off "
                        "(a plughw: or default device resamples)", self.device, rate, self.rate)
        self._out_format = fmt
        self._out_channels = channels
        self._frame_bytes = channels * sample_width(fmt)
        return True

    def _close_pcm(self, pcm: alsaaudio.PCM, drain: bool) -> None:
        with alsa_errors_silenced(), contextlib.suppress(alsaaudio.ALSAAudioError):
            if not drain:
                pcm.drop()  # close() drains; after a failure there is nothing worth waiting for
            pcm.close()

    def _lost(self, reason: str) -> None:
        assert self._pcm is not None
        pcm, self._pcm = self._pcm, None
        self._close_pcm(pcm, drain=False)
        log.warning("lost playback device '%s' (%s); waiting for it to come back", self.device, reason)
        self._waiting = True
        self._backoff = BACKOFF_START_S
        self._next_try = time.monotonic() + self._backoff
        self._pacer.reset()

    def write(self, block: np.ndarray) -> None:
        """Play one block; while the device is away, drop it at wall-clock pace."""
        if not self._opened:
            self.open()
        frames = len(block)
        if self._pcm is None and time.monotonic() >= self._next_try:
            self._attach()
        if self._pcm is None:
            self.dropped_blocks += 1
            self._pacer.pace(frames)  # the device is not there to block us: do not spin
            return
        data = to_bytes(as_channels(block, self._out_channels), self._out_format)
        try:
            self._write_all(data)
        except alsaaudio.ALSAAudioError as exc:
            self._lost(_reason(exc))
            self.dropped_blocks += 1

    def _write_all(self, data: bytes) -> None:
        assert self._pcm is not None
        view = memoryview(data)
        attempts = 0
        while view:
            n = self._pcm.write(view)
            if n == -errno.EPIPE:
                # pyalsaaudio 0.11 has already prepared the stream; the block was not written.
                self.underruns += 1
                self._xruns.hit()
            elif n > 0:
                self.frames_written += n
                view = view[n * self._frame_bytes:]
                continue
            attempts += 1
            if attempts >= _MAX_ATTEMPTS:
                raise alsaaudio.ALSAAudioError(f"write keeps failing ({n})")
        self._xruns.ok()

    def close(self) -> None:
        """Let queued audio play out (drain) and close the device."""
        if self._pcm is not None:
            pcm, self._pcm = self._pcm, None
            self._close_pcm(pcm, drain=True)
        self._opened = False
        self._waiting = False
