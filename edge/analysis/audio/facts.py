"""What an analysis of audio adds to one of MIDI: the file's format, the beat-level loudness, and
which parts of the score were estimated rather than read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AudioFacts:
    """How an audio file was read and what was estimated from it."""

    format: str
    """Such as "WAV PCM 16-bit" or "FLAC (flac command)"."""
    source_rate: int
    """The file's sample rate."""
    channels: int
    """The file's channels (averaged to one for the analysis)."""
    seconds: float
    """Length of the audio."""
    tempo_bpm: float
    """The dominant tempo the onset envelope's autocorrelation found."""
    steady_tempo: bool
    """Whether one tempo fits every tracked beat (else the tempo map follows the beats bar by bar)."""
    beat_loudness_db: tuple[float, ...]
    """RMS level in dBFS of each beat of the grid."""
    transcribed_notes: int
    """Notes the transcription model heard (the melody is their top line)."""
    estimated: tuple[str, ...]
    """The parts of the analysis estimated from the audio (all of them, for audio)."""
