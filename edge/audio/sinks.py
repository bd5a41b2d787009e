"""The sink interface every output implements, and the null sink.

A sink takes float32 blocks shaped (frames, channels) and puts them somewhere:
a sound card, a WAV file, a Snapcast pipe, or nowhere. ``write`` never raises
for trouble at the destination (a vanished device, a full disk): the audio
path must keep running, so sinks log the problem and drop audio instead.
"""

from __future__ import annotations

import abc

import numpy as np

from edge.audio.pacing import Pacer


class Sink(abc.ABC):
    """Where the player's blocks go.

    Attributes every sink has: ``rate`` (Hz), ``channels``, ``period_frames``
    (the block size it expects), ``description`` (one line for humans, e.g.
    "ALSA hw:1" or "WAV /path/file.wav") and ``underruns`` (device underruns
    seen so far; always 0 where there is no device).
    """

    rate: int
    channels: int
    period_frames: int
    description: str
    underruns: int

    def __init__(self, rate: int, channels: int, period_frames: int, description: str) -> None:
        if channels < 1:
            raise ValueError("channels must be at least 1")
        self.rate = int(rate)
        self.channels = int(channels)
        self.period_frames = int(period_frames)
        self.description = description
        self.underruns = 0

    @abc.abstractmethod
    def open(self) -> None:
        """Get ready to take blocks; calling it on an open sink does nothing."""

    @abc.abstractmethod
    def write(self, block: np.ndarray) -> None:
        """Play or store one float32 (frames, channels) block. Never raises for I/O trouble."""

    @abc.abstractmethod
    def close(self) -> None:
        """Finish pending output and release the destination; safe to call twice."""

    def __enter__(self) -> Sink:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description} {self.rate} Hz x{self.channels}>"


class NullSink(Sink):
    """Discards every block; with ``realtime`` it takes them at the speed a card would."""

    def __init__(
        self, realtime: bool = False, rate: int = 48000, channels: int = 2, period_frames: int = 1024
    ) -> None:
        super().__init__(rate, channels, period_frames, "null" + (" (real time)" if realtime else ""))
        self.realtime = realtime
        self.frames_written = 0
        self._pacer = Pacer(self.rate, lead_frames=self.period_frames)

    def open(self) -> None:
        """Nothing to open; restarts the pacing clock."""
        self._pacer.reset()

    def write(self, block: np.ndarray) -> None:
        """Count the frames and, when real-time, wait as long as they would take to play."""
        frames = len(block)
        self.frames_written += frames
        if self.realtime:
            self._pacer.pace(frames)

    def close(self) -> None:
        """Nothing to release."""
