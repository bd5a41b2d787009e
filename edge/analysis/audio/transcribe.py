"""Notes from audio: basic-pitch's model (ONNX, in ``models/transcriber/``) run by onnxruntime.

The model takes windows of 43844 samples at 22050 Hz (2 s less a hop) and gives 172 frames (hop
256 samples, about 86 a second) of note, onset and contour activations for the 88 piano keys.
The windowing follows basic-pitch 0.4.0's ``inference.py`` (``get_audio_input``,
``window_audio_file``, ``unwrap_output``): half an overlap of 30 frames of silence in front,
windows every 43844 - 30 x 256 samples, the last padded with silence, 15 frames cut from each
side of every window's output, the result cut to the audio's length. The session runs on one
thread, as the generator's do (``edge.generator.registry.session_options``).
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.analysis.audio.notes import TranscribedNote, notes_from_activations
from edge.analysis.audio.read import RATE
from edge.analysis.midi_in import AnalysisError

MODEL_DIR = Path(__file__).resolve().parent.parent.parent.parent / "models" / "transcriber"
"""Where scripts/fetch_transcriber.py writes the model and its card."""
WINDOW = 43844
"""Samples the model takes at once (basic-pitch's AUDIO_N_SAMPLES)."""
HOP = 256
"""Samples a frame (FFT_HOP)."""
OVERLAP_FRAMES = 30
"""Frames two windows share; half of them is cut from each side (basic-pitch's default)."""
FRAMES_PER_SECOND = RATE // HOP
"""86, as basic-pitch counts (ANNOTATIONS_FPS)."""
BATCH = 1
"""Windows run at once: one (the model's working memory grows with the batch, its output is the
same: 2 minutes of audio peaked 117 MiB at 8, 36 at 1, in the same CPU time)."""
_session = None
_lock = threading.Lock()


@dataclass(frozen=True)
class Activations:
    """The model's output over the whole audio, frames x pitches."""

    note: np.ndarray
    """(frames, 88) frame activations 0..1, pitch 21 + column."""
    onset: np.ndarray
    """(frames, 88) onset activations 0..1."""


def _load():
    global _session
    with _lock:
        if _session is None:
            import onnxruntime as ort

            from edge.generator.registry import session_options

            model = MODEL_DIR / "nmp.onnx"
            try:
                card = json.loads((MODEL_DIR / "nmp.onnx.json").read_text())
                data = model.read_bytes()
            except (OSError, ValueError) as exc:
                raise AnalysisError(
                    f"{model}: the transcription model is missing or unreadable ({exc}); "
                    "run scripts/fetch_transcriber.py"
                ) from None
            if hashlib.sha256(data).hexdigest() != card.get("sha256"):
                raise AnalysisError(
                    f"{model}: sha256 differs from its card; run scripts/fetch_transcriber.py"
                )
            _session = (
                ort.InferenceSession(data, session_options(), providers=["CPUExecutionProvider"]),
                card,
            )
        return _session


def release() -> None:
    """Drop the model's session (a daemon that has analysed its library's new files keeps no
    onnxruntime session for them); the next transcription loads it again."""
    global _session
    with _lock:
        _session = None


def activations(samples: np.ndarray) -> Activations:
    """Run the model over mono ``samples`` at RATE."""
    session, card = _load()
    overlap = OVERLAP_FRAMES * HOP
    step = WINDOW - overlap
    audio = np.concatenate([np.zeros(overlap // 2, np.float32), samples.astype(np.float32)])
    starts = list(range(0, len(audio), step))
    in_name = card["input"]["name"]
    names = [card["outputs"]["note"]["name"], card["outputs"]["onset"]["name"]]
    notes, onsets = [], []
    half = OVERLAP_FRAMES // 2
    for first in range(0, len(starts), BATCH):
        batch = np.zeros((len(starts[first : first + BATCH]), WINDOW, 1), np.float32)
        for row, start in enumerate(starts[first : first + BATCH]):
            window = audio[start : start + WINDOW]
            batch[row, : len(window), 0] = window
        note, onset = session.run(names, {in_name: batch})
        notes.append(note[:, half:-half].reshape(-1, note.shape[2]))
        onsets.append(onset[:, half:-half].reshape(-1, onset.shape[2]))
    frames = int(np.floor(len(samples) * FRAMES_PER_SECOND / RATE))
    return Activations(np.concatenate(notes)[:frames], np.concatenate(onsets)[:frames])


def transcribe(samples: np.ndarray) -> list[TranscribedNote]:
    """Every note the model hears in ``samples`` (mono at RATE), by onset."""
    found = activations(samples)
    return notes_from_activations(found.note, found.onset)
