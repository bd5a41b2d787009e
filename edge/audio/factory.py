"""open_sink: the sink the daemon plays into, chosen from [audio] settings."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from edge.audio.alsa import AlsaSink, probe_alsa
from edge.audio.fifo import FifoSink
from edge.audio.sinks import NullSink, Sink
from edge.audio.wav import WavSink
from edge.config import AudioConfig
from edge.credentials.manifest import info_tags

log = logging.getLogger(__name__)


def fallback_wav_path(directory: Path | None = None) -> Path:
    """Absolute ``edge-music-YYYYmmdd-HHMMSS.wav`` in ``directory`` (default: the working directory)."""
    base = (directory or Path.cwd()).absolute()
    return base / f"edge-music-{time.strftime('%Y%m%d-%H%M%S')}.wav"


def _tags() -> dict[str, str]:
    """LIST/INFO tags of a recording the daemon makes (its manifest, if signed, says more)."""
    return info_tags(f"edge-music session {time.strftime('%Y-%m-%d %H:%M')}", "AI-generated music")


def open_sink(audio: AudioConfig, realtime: bool = True) -> Sink:
    """Build and open the sink ``audio`` asks for.

    ``realtime`` paces the file and null sinks to wall-clock (the daemon wants
    that; an offline render does not). For sink="alsa" with
    ``fallback_to_wav``, a device that cannot be opened now is replaced by a
    real-time-paced WavSink in the working directory, announced in one log
    line; its ``path`` attribute says where. Without the fallback, the
    AlsaSink waits for the device to appear.
    """
    sink: Sink
    if audio.sink == "alsa":
        reason = probe_alsa(audio.device, audio.rate, audio.channels, audio.format)
        if reason is not None and audio.fallback_to_wav:
            path = fallback_wav_path()
            log.warning("no playback device '%s' (%s); writing to %s instead", audio.device, reason, path)
            # Always paced: the file stands in for a device, and the music must not race ahead.
            sink = WavSink(path, audio.rate, audio.channels, audio.format, audio.period_frames, realtime=True,
                           info=_tags())
        else:
            sink = AlsaSink(audio.device, audio.rate, audio.channels, audio.format, audio.period_frames,
                            audio.periods)
    elif audio.sink == "wav":
        sink = WavSink(audio.wav_path, audio.rate, audio.channels, audio.format, audio.period_frames,
                       realtime=realtime, info=_tags())
    elif audio.sink == "fifo":
        if audio.format != "S16_LE":
            log.info("the Snapcast pipe always carries S16_LE; ignoring format %s", audio.format)
        sink = FifoSink(audio.fifo_path, audio.rate, audio.channels, audio.period_frames)
    elif audio.sink == "null":
        sink = NullSink(realtime, audio.rate, audio.channels, audio.period_frames)
    else:
        raise ValueError(f"unknown audio sink {audio.sink!r}")
    sink.open()
    return sink
