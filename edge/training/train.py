"""Training a tier on the CPU, resumable at any checkpoint, reproducible from its seed.

Each step draws its batch and its dropout from ``(seed, step)`` alone, so a
run that stops and resumes produces the same weights as one that doesn't
(on the same number of threads).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from edge.generator import tokens as T
from edge.training.dataset import batch, heldout_windows, load_splits, source_shares
from edge.training.model import TIER_SHAPES, ModelShape, MusicTransformer, parameter_count

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """One training run."""

    tier: str
    """S, M, L (shipped) or tiny (smoke test)."""
    data: Path
    """Folder with the data builder's pieces.jsonl."""
    out: Path
    """Where checkpoints go (git-ignored)."""
    steps: int
    """Optimizer steps in all."""
    batch: int = 32
    """Windows per step."""
    context: int = 256
    """Tokens per window, and the model's context."""
    lr: float = 2e-3
    """Peak learning rate (cosine decay after warm-up)."""
    warmup: int = 50
    """Steps of linear warm-up."""
    seed: int = 1
    """Seeds batches, dropout and initial weights."""
    threads: int = 2
    """torch CPU threads."""
    checkpoint_every: int = 50
    """Steps between checkpoints."""
    max_minutes: float = 0.0
    """Stop (resumably) after this many minutes; 0 = run to the end."""


def checkpoint_path(config: TrainConfig) -> Path:
    """The checkpoint a run writes and resumes from."""
    return config.out / f"{config.tier}.pt"


def _lr(config: TrainConfig, step: int) -> float:
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def heldout_nll(model: MusicTransformer, windows: np.ndarray, batch_size: int = 16) -> float:
    """Mean negative log-likelihood per token (nats) over the held-out windows."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(windows), batch_size):
            x = torch.from_numpy(windows[i : i + batch_size])
            logits, _ = model(x[:, :-1])
            flat = logits.reshape(-1, logits.shape[-1])
            total += float(F.cross_entropy(flat, x[:, 1:].reshape(-1), reduction="sum"))
            count += x[:, 1:].numel()
    model.train()
    return total / max(1, count)


def train(config: TrainConfig) -> Path:
    """Train (or resume) and return the checkpoint; finished checkpoints carry ``done`` and the NLL."""
    torch.set_num_threads(config.threads)
    config.out.mkdir(parents=True, exist_ok=True)
    train_set, held_set, build = load_splits(config.data)
    build = {**build, "shares": source_shares(train_set.per_source)}  # recorded in the model card
    torch.manual_seed(config.seed)
    shape = ModelShape(vocab=len(T.VOCAB), context=config.context, **TIER_SHAPES[config.tier])
    model = MusicTransformer(shape)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.9, 0.95), weight_decay=0.05)
    path = checkpoint_path(config)
    step, history, elapsed = 0, [], 0.0
    if path.exists():
        state = torch.load(path, weights_only=False)
        if state["config"]["tier"] != config.tier or state["shape"] != shape.to_json():
            raise ValueError(f"{path} belongs to another model shape; remove it or pick another --out")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, history, elapsed = state["step"], state["history"], state.get("seconds", 0.0)
        if state.get("done") and step >= config.steps:
            log.info("%s is already trained (%d steps)", path, step)
            return path
        log.info("resuming %s at step %d of %d", path, step, config.steps)
    log.info(
        "tier %s: %d parameters, %d train tokens (%d pieces x transpositions), %d held-out tokens",
        config.tier, parameter_count(model), len(train_set.stream), train_set.pieces, len(held_set.stream),
    )  # fmt: skip
    windows = heldout_windows(held_set, config.context)
    started = time.monotonic()
    model.train()
    while step < config.steps:
        rng = np.random.default_rng([config.seed, step])
        torch.manual_seed(config.seed * 1_000_003 + step)
        x = torch.from_numpy(batch(train_set, rng, config.batch, config.context))
        for group in optimizer.param_groups:
            group["lr"] = _lr(config, step)
        logits, _ = model(x[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        history.append(round(loss.item(), 4))
        spent = elapsed + time.monotonic() - started
        if step % 10 == 0:
            rate = step / spent if spent else 0.0
            log.info(
                "step %d/%d loss %.3f  %.2f s/step, about %.0f min left",
                step, config.steps, np.mean(history[-10:]), 1 / max(rate, 1e-9),
                (config.steps - step) / max(rate, 1e-9) / 60,
            )  # fmt: skip
        out_of_time = config.max_minutes and time.monotonic() - started > config.max_minutes * 60
        if step % config.checkpoint_every == 0 or step == config.steps or out_of_time:
            done = step >= config.steps
            extra = {"heldout_nll": heldout_nll(model, windows)} if done else {}
            _save(path, model, optimizer, config, shape, step, history, spent, build, done, extra)
            if out_of_time and not done:
                log.info(
                    "stopped after %.0f min at step %d; run the same command to resume", spent / 60, step
                )
                return path
    return path


def _save(path: Path, model, optimizer, config, shape, step, history, seconds, build, done, extra) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "shape": shape.to_json(),
        "step": step,
        "history": history,
        "seconds": seconds,
        "done": done,
        "vocab_hash": T.vocab_hash(),
        "data": {
            "sha256": build.get("pieces_sha256"),
            "sources": build.get("sources", []),
            "shares": build.get("shares", {}),
        },
        "torch": torch.__version__,
        **extra,
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # a kill mid-write never leaves a broken checkpoint
    if done:
        summary = {k: v for k, v in state.items() if k not in ("model", "optimizer", "history")}
        path.with_suffix(".json").write_text(json.dumps(summary, indent=2, default=str))
