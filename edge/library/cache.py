"""Audio analyses kept on disk by the file's sha256, so a restart or SIGHUP never transcribes again.

Transcribing a track is the costly part of the library (seconds of CPU per minute of audio); what
it gives is small: the score on its beat grid, the chroma key weights and the audio facts. Those
are written as one JSON file per sha256 (``<sha256>.json``, written to a temporary name and
renamed, so a power cut leaves the old file or the new one), and the analysis is made again from
them (``analysis_from``: the MIDI path's analysis of that score, milliseconds). A file written by
another edge-music version, or one that does not parse, is ignored (one log line) and the audio
analysed again.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from edge import __version__
from edge.analysis.analyse import Analysis
from edge.analysis.audio.facts import AudioFacts
from edge.analysis.score import KeySignature, Meter, Note, Part, Score, Tempo

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
"""Bumped when what is cached changes."""
MAX_CACHE_BYTES = 16 << 20
"""A cache file larger than this is not read (a 15-minute track's notes are well under 1 MiB)."""

_SHA256 = re.compile(r"[0-9a-f]{64}")


class AnalysisCache:
    """The folder of cached audio analyses (``[library] cache_dir``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _path(self, sha256: str) -> Path:
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        return self.folder / f"{sha256}.json"

    def get(self, sha256: str) -> Analysis | None:
        """The cached analysis of the file with this digest, or None."""
        from edge.analysis.audio.analyse import analysis_from

        path = self._path(sha256)
        try:
            if path.stat().st_size > MAX_CACHE_BYTES:
                raise ValueError(f"larger than {MAX_CACHE_BYTES >> 20} MiB")
            data = json.loads(path.read_bytes())
            if data.get("format") != CACHE_FORMAT or data.get("version") != __version__:
                return None  # another edge-music's analysis: analyse again
            score = _score(data["score"])
            weights = [float(w) for w in data["key_weights"]]
            if len(weights) != 12:
                raise ValueError("key_weights must be 12 numbers")
            return analysis_from(score, weights, AudioFacts(**_tuples(data["facts"])))
        except FileNotFoundError:
            return None
        except Exception as exc:  # a damaged cache costs a new analysis, never the daemon
            log.warning("library cache %s ignored: %s", path.name, str(exc).splitlines()[0] if str(exc) else
                        type(exc).__name__)  # fmt: skip
            return None

    def put(self, sha256: str, analysis: Analysis, weights: list[float]) -> None:
        """Keep ``analysis`` (of audio) under ``sha256``; a failure to write is one log line."""
        assert analysis.audio is not None, "only audio analyses are cached"
        record = {
            "format": CACHE_FORMAT,
            "version": __version__,
            "score": dataclasses.asdict(analysis.score),
            "key_weights": list(weights),
            "facts": dataclasses.asdict(analysis.audio),
        }
        path = self._path(sha256)
        temporary = path.with_suffix(f".tmp{os.getpid()}")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary.write_text(json.dumps(record, separators=(",", ":")))
            os.replace(temporary, path)
        except OSError as exc:
            log.warning("library cache %s not written: %s", path, exc.strerror or exc)
            temporary.unlink(missing_ok=True)


def _tuples(values: dict[str, Any]) -> dict[str, Any]:
    """JSON's lists back to the tuples the frozen dataclasses hold."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def _score(data: dict[str, Any]) -> Score:
    fields = _tuples(data)
    fields["parts"] = tuple(Part(**p) for p in data["parts"])
    fields["notes"] = tuple(Note(**n) for n in data["notes"])
    fields["tempos"] = tuple(Tempo(**t) for t in data["tempos"])
    fields["meters"] = tuple(Meter(**m) for m in data["meters"])
    fields["key_signatures"] = tuple(KeySignature(**k) for k in data["key_signatures"])
    return Score(**fields)
