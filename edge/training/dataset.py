"""Token streams for training: the data builder's pieces, tokenized and transposed.

Training pieces are written in every transposition from -5 to +6 semitones
that keeps their notes inside the token ranges (augmentation); held-out
pieces only as written, so the held-out NLL measures real music.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.generator import tokens as T

TRANSPOSITIONS = tuple(range(-5, 7))


@dataclass(frozen=True)
class TokenSet:
    """One split as a single stream plus where its bars start."""

    stream: np.ndarray
    """All pieces back to back, each opening with BOS (uint16)."""
    bar_starts: np.ndarray
    """Indices of the BAR tokens: training windows start on a bar line."""
    pieces: int
    """How many pieces (transpositions counted once)."""
    per_source: dict[str, int] = field(default_factory=dict)
    """Tokens of each source (the pieces' ``source``) in the stream: its share of what trains."""


def read_pieces(path: Path) -> list[dict]:
    """The pieces of a ``pieces.jsonl`` file."""
    with path.open() as fh:
        return [json.loads(line) for line in fh if line.strip()]


def tokenize(pieces: list[dict], augment: bool) -> TokenSet:
    """Every piece as tokens, transposed when ``augment`` is set."""
    chunks: list[list[int]] = []
    per_source: Counter[str] = Counter()
    for piece in pieces:
        bars = [T.BarEvents.from_json(b) for b in piece["bars"]]
        shifts = TRANSPOSITIONS if augment else (0,)
        for shift in shifts:
            tokens = T.encode_piece(bars, piece["tag"], int(piece["key"]), piece["mode"], shift)
            if tokens is not None:
                chunks.append(tokens)
                per_source[str(piece.get("source", ""))] += len(tokens)
    stream = np.fromiter((t for chunk in chunks for t in chunk), dtype=np.uint16)
    return TokenSet(stream, np.flatnonzero(stream == T.BAR), len(pieces), dict(sorted(per_source.items())))


def source_shares(per_source: dict[str, int]) -> dict[str, dict[str, float | int]]:
    """Each source's training tokens and share of them (rounded to 4 places), for the model card."""
    total = sum(per_source.values())
    return {
        name: {"train_tokens": int(count), "share": round(count / total, 4) if total else 0.0}
        for name, count in per_source.items()
    }


def load_splits(data_dir: Path) -> tuple[TokenSet, TokenSet, dict]:
    """Train and held-out token sets, cached beside the pieces under a name tied to the vocabulary."""
    pieces_path = data_dir / "pieces.jsonl"
    if not pieces_path.is_file():
        raise FileNotFoundError(f"{pieces_path} not found; build it with scripts/build_data.py")
    build = json.loads((data_dir / "build.json").read_text()) if (data_dir / "build.json").exists() else {}
    cache = data_dir / f"tokens-{T.vocab_hash()[:12]}.npz"
    if cache.exists() and cache.stat().st_mtime >= pieces_path.stat().st_mtime:
        z = np.load(cache)
        if "train_sources" in z:  # older caches lack the per-source counts: rebuilt below
            sources = json.loads(str(z["train_sources"]))
            train = TokenSet(z["train"], z["train_bars"], int(z["train_pieces"]), sources)
            held = TokenSet(z["held"], z["held_bars"], int(z["held_pieces"]))
            return train, held, build
    pieces = read_pieces(pieces_path)
    train = tokenize([p for p in pieces if p["split"] == "train"], augment=True)
    held = tokenize([p for p in pieces if p["split"] != "train"], augment=False)
    np.savez(
        cache,
        train=train.stream,
        train_bars=train.bar_starts,
        train_pieces=train.pieces,
        held=held.stream,
        held_bars=held.bar_starts,
        held_pieces=held.pieces,
        train_sources=json.dumps(train.per_source),
    )
    return train, held, build


def batch(tokens: TokenSet, rng: np.random.Generator, size: int, length: int) -> np.ndarray:
    """``size`` windows of ``length + 1`` tokens, each starting on a bar line."""
    usable = tokens.bar_starts[tokens.bar_starts + length + 1 <= len(tokens.stream)]
    starts = rng.choice(usable, size=size)
    return np.stack([tokens.stream[s : s + length + 1] for s in starts]).astype(np.int64)


def heldout_windows(tokens: TokenSet, length: int) -> np.ndarray:
    """The held-out stream cut into consecutive windows of ``length + 1`` (overlapping by one)."""
    count = (len(tokens.stream) - 1) // length
    return np.stack([tokens.stream[i * length : i * length + length + 1] for i in range(count)]).astype(
        np.int64
    )
