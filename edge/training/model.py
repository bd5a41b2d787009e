"""The decoder-only transformer of the neural tiers, written so that it exports with its KV cache.

``forward(input_ids, past)`` takes the keys and values of everything seen so
far as one explicit tensor and returns them extended by the new tokens, so
the exported ONNX graph has ``past``/``present`` inputs and outputs and the
runtime decodes one token per call without recomputing the context.

``past`` has shape ``[layers, 2, batch, heads, past_len, head_dim]``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class ModelShape:
    """The size of one tier."""

    layers: int
    """Transformer blocks."""
    width: int
    """Embedding width (d_model)."""
    heads: int
    """Attention heads; width must divide evenly."""
    context: int
    """Most tokens the model attends to (learned positions)."""
    vocab: int
    """Token vocabulary size."""
    dropout: float = 0.1
    """Dropout while training (none at inference)."""

    def to_json(self) -> dict:
        """Plain dict for checkpoints and model cards."""
        return asdict(self)


#: The shipped tiers: each has at least 3x the parameters of the one below.
TIER_SHAPES: dict[str, dict[str, int]] = {
    "S": {"layers": 2, "width": 96, "heads": 4},
    "M": {"layers": 3, "width": 160, "heads": 4},
    "L": {"layers": 5, "width": 256, "heads": 8},
    "tiny": {"layers": 1, "width": 32, "heads": 2},  # CI smoke test only
}


class Block(nn.Module):
    """Pre-norm attention and feed-forward with an explicit cache."""

    def __init__(self, shape: ModelShape) -> None:
        super().__init__()
        self.heads = shape.heads
        self.head_dim = shape.width // shape.heads
        self.norm1 = nn.LayerNorm(shape.width)
        self.qkv = nn.Linear(shape.width, 3 * shape.width)
        self.out = nn.Linear(shape.width, shape.width)
        self.norm2 = nn.LayerNorm(shape.width)
        self.ff_in = nn.Linear(shape.width, 4 * shape.width)
        self.ff_out = nn.Linear(4 * shape.width, shape.width)
        self.drop = nn.Dropout(shape.dropout)

    def forward(
        self, x: torch.Tensor, past: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch, length, width = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(width, dim=2)
        q = q.view(batch, length, self.heads, self.head_dim).transpose(1, 2)
        k = k.view(batch, length, self.heads, self.head_dim).transpose(1, 2)
        v = v.view(batch, length, self.heads, self.head_dim).transpose(1, 2)
        k = torch.cat([past[0], k], dim=2)
        v = torch.cat([past[1], v], dim=2)
        if self.training:  # the fused kernel is several times faster to train
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=~mask, dropout_p=self.drop.p)
        else:  # plain ops export to every ONNX runtime and match the kernel's maths
            scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
            y = F.softmax(scores.masked_fill(mask, float("-inf")), dim=-1) @ v
        y = y.transpose(1, 2).reshape(batch, length, width)
        x = x + self.drop(self.out(y))
        x = x + self.drop(self.ff_out(F.gelu(self.ff_in(self.norm2(x)))))
        return x, torch.stack([k, v])


class MusicTransformer(nn.Module):
    """Token embedding, learned positions, blocks, tied output projection."""

    def __init__(self, shape: ModelShape) -> None:
        super().__init__()
        self.shape = shape
        self.embed = nn.Embedding(shape.vocab, shape.width)
        self.position = nn.Embedding(shape.context, shape.width)
        self.blocks = nn.ModuleList(Block(shape) for _ in range(shape.layers))
        self.norm = nn.LayerNorm(shape.width)
        self.drop = nn.Dropout(shape.dropout)
        self.apply(_init)

    def empty_past(self, batch: int = 1) -> torch.Tensor:
        """A cache holding nothing yet."""
        s = self.shape
        return torch.zeros(s.layers, 2, batch, s.heads, 0, s.width // s.heads)

    def forward(self, input_ids: torch.Tensor, past: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits for every input position and the cache extended by the inputs."""
        length = input_ids.shape[1]
        past_len = past.shape[4]
        positions = torch.arange(length, device=input_ids.device) + past_len
        x = self.drop(self.embed(input_ids) + self.position(positions))
        # Query i (absolute position past_len + i) may see keys 0..past_len + i.
        keys = torch.arange(past_len + length, device=input_ids.device)
        mask = keys.unsqueeze(0) > positions.unsqueeze(1)
        presents = []
        for i, block in enumerate(self.blocks):
            x, present = block(x, past[i], mask)
            presents.append(present)
        logits = self.norm(x) @ self.embed.weight.t()
        return logits, torch.stack(presents)


def _init(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=0.02)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)


def parameter_count(model: nn.Module) -> int:
    """Trainable parameters (the tied output projection counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
