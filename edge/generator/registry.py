"""The model registry: which neural tiers this install can use, checked before they are trusted.

``models/manifest.json`` lists each model's tier, file and sha256. A tier whose
file is missing, whose digest does not match, or whose ONNX session fails to
load is disabled with one clear log line, and the next tier down is used.
Tier 0 (procedural) needs no file and is always available.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.digest import sha256_of

log = logging.getLogger(__name__)

SHIPPED_MODELS = Path(__file__).resolve().parent.parent.parent / "models"
LADDER = ("L", "M", "S", "0")  # best first


@dataclass(frozen=True)
class ModelEntry:
    """One line of the manifest."""

    tier: str
    """S, M or L."""
    path: Path
    """The ONNX file."""
    sha256: str
    """Expected digest of the file."""
    card: dict
    """The model card beside the file (``<file>.json``): shape, vocabulary hash, metrics."""


def session_options() -> Any:
    """onnxruntime settings that suit a Pi: one thread, sequential, no memory arena."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False  # shapes change every step (the cache grows): no plan to reuse
    options.log_severity_level = 3
    return options


class TierRegistry:
    """Verified model files and lazily created sessions, one per tier."""

    def __init__(self, models_dir: str | Path | None = None) -> None:
        self.folder = Path(models_dir) if models_dir else SHIPPED_MODELS
        self.entries: dict[str, ModelEntry] = {}
        self.disabled: dict[str, str] = {}
        self._sessions: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._packs: Any = None
        self._packs_lock = threading.Lock()  # not _lock: that one is held while a tier loads
        self._read_manifest()

    def _disable(self, tier: str, reason: str) -> None:
        self.disabled[tier] = reason
        self.entries.pop(tier, None)
        log.error("model tier %s disabled: %s; falling back to the next tier", tier, reason)

    def _read_manifest(self) -> None:
        manifest = self.folder / "manifest.json"
        if not manifest.exists():
            return
        try:
            models = json.loads(manifest.read_text())["models"]
            entries = [
                ModelEntry(str(m["tier"]), self.folder / str(m["file"]), str(m["sha256"]), {}) for m in models
            ]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("model manifest %s is unreadable (%s); only tier 0 is available", manifest, exc)
            return
        for entry in entries:
            if entry.tier not in LADDER[:-1]:
                log.error("model manifest %s: unknown tier %r ignored", manifest, entry.tier)
                continue
            if not entry.path.is_file():
                self._disable(entry.tier, f"{entry.path} is missing")
            elif (actual := sha256_of(entry.path)) != entry.sha256:
                self._disable(entry.tier, f"{entry.path} sha256 {actual[:12]}... does not match the manifest")
            elif (problem := _card_problem(entry)) is not None:
                self._disable(entry.tier, problem)
            else:
                self.entries[entry.tier] = entry

    @property
    def packs(self) -> Any:
        """The artist models of installed packs (``edge.packs.models.PackModels``), checked and
        loaded as the tiers are: who plays a pack's style at a neural tier."""
        with self._packs_lock:
            if self._packs is None:
                from edge.packs.models import PackModels

                self._packs = PackModels()
            return self._packs

    def card(self, tier: str) -> dict:
        """The model card of a usable tier."""
        return self.entries[tier].card

    def below(self, tier: str) -> str:
        """The next usable tier under ``tier`` ("0" at the bottom)."""
        if tier not in LADDER or tier == "0":
            return "0"
        return self.best_at_most(LADDER[LADDER.index(tier) + 1])

    @property
    def available(self) -> tuple[str, ...]:
        """Usable tiers, best first; always ends with "0"."""
        return tuple(t for t in LADDER if t == "0" or t in self.entries)

    def resolve(self, wanted: str) -> str:
        """The tier a command asked for ("auto": the best installed); raises UsageError naming
        why a tier cannot play and which can."""
        from edge.exits import UsageError

        if wanted == "auto":
            return self.best_at_most("L")
        if wanted not in self.available:
            why = self.disabled.get(wanted, "not in the models' manifest")
            raise UsageError(f"--tier {wanted}: {why} (usable tiers: {', '.join(self.available)})")
        return wanted

    def best_at_most(self, wanted: str) -> str:
        """The requested tier if usable, else the next one down."""
        start = LADDER.index(wanted) if wanted in LADDER else 0
        return next(t for t in LADDER[start:] if t == "0" or t in self.entries)

    def session(self, tier: str) -> Any | None:
        """The onnxruntime session for a tier, created on first use; None if it can't load."""
        with self._lock:
            if tier in self._sessions:
                return self._sessions[tier]
            entry = self.entries.get(tier)
            if entry is None:
                return None
            session, problem = load_session(entry.path, entry.card)
            if session is None:
                self._disable(tier, str(problem))
                return None
            self._sessions[tier] = session
            return session


def load_session(path: Path, card: dict) -> tuple[Any | None, str | None]:
    """An onnxruntime session for the model at ``path`` (whose card is ``card``), checked against this
    runtime's inputs and warmed up; (None, why) when it cannot play. Also loads a pack's artist model."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(
            str(path), sess_options=session_options(), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises several types for a bad file
        return None, f"{path} does not load ({type(exc).__name__}: {exc})".splitlines()[0]
    if (problem := _graph_problem(session, path, card)) is not None:
        return None, problem
    _warm_up(session, card)
    return session, None


def _card_problem(entry: ModelEntry) -> str | None:
    """Why a model's card rules it out (None if it is fine); fills ``entry.card``."""
    from edge.generator.tokens import vocab_hash

    path = entry.path.with_name(entry.path.name + ".json")
    try:
        card = json.loads(path.read_text())
        shape = card["shape"]
        int(shape["layers"]), int(shape["heads"]), int(shape["width"]), int(shape["context"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"its card {path} is missing or unreadable ({type(exc).__name__})"
    if card.get("vocab_hash") != vocab_hash():
        return f"{entry.path} was trained for another tokenizer (vocab_hash in {path.name} differs)"
    entry.card.update(card)
    return None


def _graph_problem(session: Any, path: Path, card: dict) -> str | None:
    """Why a loaded model cannot be driven by this runtime (None if it can)."""
    from edge.generator.neural import STEP_INPUTS, cache_names

    wanted = [*STEP_INPUTS, *cache_names(int(card["shape"]["layers"]))]
    found = [i.name for i in session.get_inputs()]
    if found != wanted:
        return (
            f"{path} takes inputs {', '.join(found)}; this edge-music needs {', '.join(wanted)} "
            "(export it again with scripts/train_model.py)"
        )
    return None


def _warm_up(session: Any, card: dict) -> None:
    """Run a full context and one step, so onnxruntime's buffers are sized before audio depends on it.

    Without it the first minutes of playing grow the process by several MB as longer inputs are
    met, and the first long re-prime pays for its allocations inside a bar.
    """
    from edge.generator.neural import Decoder

    try:
        context = int(card["shape"]["context"])
        decoder = Decoder(session, context, card["shape"])
        decoder.feed([0] * (context - 1))
        decoder.feed([0])
    except Exception as exc:  # a model that cannot run is found out by its first bar, which tier 0 plays
        log.warning("warming up a model failed (%s: %s)", type(exc).__name__, str(exc).splitlines()[0])
