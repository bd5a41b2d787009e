"""The decoder-only transformer of the neural tiers, as trained, and the reference for the shipped graph.

``forward(input_ids, past)`` takes the keys and values of everything seen so
far as explicit tensors and returns them extended by the new tokens: one
tensor ``[batch, heads, past_len, head_dim]`` per layer and kind, the same
cache the ONNX graph of ``edge.training.graph`` takes as ``past_key_<i>``/
``past_value_<i>``. That graph is built from these weights with onnxruntime's
fused kernels; this module is what it is tested against, and the "PyTorch
eager" column of docs/models.md.
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
        self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch = x.shape[0]
        width = self.heads * self.head_dim
        # [batch, tokens, 3 * width] -> three [batch, heads, tokens, head_dim]: one reshape, one transpose.
        qkv = self.qkv(self.norm1(x)).view(batch, -1, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        if self.training:  # the fused kernel is several times faster to train
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=~mask, dropout_p=self.drop.p)
        else:  # plain ops: the reference that edge.training.graph's fused attention is tested against
            scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
            y = F.softmax(scores.masked_fill(mask, float("-inf")), dim=-1) @ v
        y = y.transpose(1, 2).reshape(batch, -1, width)
        x = x + self.drop(self.out(y))
        x = x + self.drop(self.ff_out(F.gelu(self.ff_in(self.norm2(x)))))
        return x, k, v


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

    def empty_past(self, batch: int = 1) -> list[torch.Tensor]:
        """A cache holding nothing yet: keys and values per layer, flat (k0, v0, k1, v1, ...)."""
        s = self.shape
        return [torch.zeros(batch, s.heads, 0, s.width // s.heads) for _ in range(2 * s.layers)]

    def forward(
        self, input_ids: torch.Tensor, past: list[torch.Tensor] | tuple[torch.Tensor, ...] = ()
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits for every input position and the cache (flat k0, v0, k1, v1, ...) extended by the inputs.

        With no ``past`` (training) the cache starts empty.
        """
        length = input_ids.shape[1]
        past_len = past[0].shape[2] if len(past) else 0
        positions = torch.arange(length, device=input_ids.device) + past_len
        x = self.drop(self.embed(input_ids) + self.position(positions))
        # Query i (absolute position past_len + i) may see keys 0..past_len + i.
        keys = torch.arange(past_len + length, device=input_ids.device)
        mask = keys.unsqueeze(0) > positions.unsqueeze(1)
        presents: list[torch.Tensor] = []
        for i, block in enumerate(self.blocks):
            layer_past = (past[2 * i], past[2 * i + 1]) if len(past) else None
            x, k, v = block(x, layer_past, mask)
            presents += [k, v]
        logits = self.norm(x) @ self.embed.weight.t()
        return logits, presents


def _init(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=0.02)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)


def parameter_count(model: nn.Module) -> int:
    """Trainable parameters (the tied output projection counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
