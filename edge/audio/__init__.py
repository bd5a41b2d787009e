"""Audio output: sinks (ALSA, WAV, Snapcast FIFO, null), the block buffer and the Player."""

from edge.audio.alsa import AlsaSink, probe_alsa
from edge.audio.buffer import BlockBuffer, buffer_capacity
from edge.audio.factory import fallback_wav_path, open_sink
from edge.audio.fifo import FifoSink
from edge.audio.player import Player, PlayerStats
from edge.audio.sinks import NullSink, Sink
from edge.audio.wav import WavSink

__all__ = [
    "AlsaSink",
    "BlockBuffer",
    "FifoSink",
    "NullSink",
    "Player",
    "PlayerStats",
    "Sink",
    "WavSink",
    "buffer_capacity",
    "fallback_wav_path",
    "open_sink",
    "probe_alsa",
]
