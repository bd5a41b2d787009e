"""The transformer's inference graph, written node by node for onnxruntime.

``torch.onnx.export`` traces the training model op by op: about 70 nodes for
tier S after onnxruntime's own fusions, and a concat that copies the whole KV
cache on every token. At these sizes nodes, not arithmetic, cost the time. So
the shipped graph is built here from the checkpoint's weights with
onnxruntime's fused kernels: per block a LayerNormalization, the q/k/v
projection, one ``GroupQueryAttention`` (com.microsoft; as many key/value heads
as query heads, i.e. plain multi-head attention) that appends the new keys and
values to the cache and applies the causal mask, the output projection with
the residual and the next LayerNorm in one ``SkipLayerNormalization``, the
feed-forward with ``Gelu``. Tier S is 25 nodes as written, 21 after
onnxruntime fuses each bias into its MatMul.

The cache is still explicit: ``past_key_<i>``/``past_value_<i>`` in,
``present_key_<i>``/``present_value_<i>`` out, each ``[1, heads, length,
head_dim]``. Run with plain ``session.run`` the present is the past plus the
new tokens. Bound with IO binding to one buffer of the model's context length
for both past and present, the kernel writes the new keys and values in place
and nothing is copied (see ``edge.generator.neural.Decoder``).

Besides ``input_ids`` the graph takes ``position_ids`` (absolute positions of
the new tokens), ``seqlens_k`` (tokens in the cache after this call, minus
one) and ``total_sequence_length`` (the same plus one): the attention kernel
cannot read the cache length from a buffer longer than the cache.

``tests/test_graph.py`` checks the graph against the PyTorch model, through
both ways of running it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from edge.training.model import MusicTransformer

OPSET = 17


def build_graph(model: MusicTransformer, out: Path) -> Path:
    """Write the fp32 inference graph of ``model`` to ``out``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edge.generator.neural import cache_names

    shape = model.shape
    heads, head_dim = shape.heads, shape.width // shape.heads
    weights = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    initializers: list = []
    nodes: list = []

    def param(name: str, value: np.ndarray | None = None) -> str:
        """A weight of the checkpoint (or ``value`` under that name) as an initializer."""
        array = weights[name] if value is None else value
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], output: str | list[str], domain: str = "", **attrs) -> str:
        outputs = [output] if isinstance(output, str) else output
        nodes.append(helper.make_node(op, inputs, outputs, name=outputs[0], domain=domain, **attrs))
        return outputs[0]

    def matmul(x: str, layer: str, out: str) -> str:
        return node("MatMul", [x, param(f"{layer}.weight_t", weights[f"{layer}.weight"].T)], out)

    def linear(x: str, layer: str, out: str) -> str:
        # x W^T + b: MatMul then Add, which the quantizer and onnxruntime fuse into one kernel.
        return node("Add", [matmul(x, layer, f"{out}_mm"), param(f"{layer}.bias")], out)

    def skip_norm(x: str, residual: str, bias: str, norm: str, out: str) -> tuple[str, str]:
        # residual + x + bias and its LayerNorm in one kernel: (normalised, sum).
        outputs = [f"{out}_norm", "", "", f"{out}_sum"]
        inputs = [x, residual, param(f"{norm}.weight"), param(f"{norm}.bias"), bias]
        node("SkipLayerNormalization", inputs, outputs, domain="com.microsoft", epsilon=1e-5)
        return outputs[0], outputs[3]

    tokens = node("Gather", [param("embed.weight"), "input_ids"], "tok_emb")
    positions = node("Gather", [param("position.weight"), "position_ids"], "pos_emb")
    x = node("Add", [tokens, positions], "x0")
    norm1 = [param("blocks.0.norm1.weight"), param("blocks.0.norm1.bias")]
    h = node("LayerNormalization", [x, *norm1], "b0_ln1", axis=-1, epsilon=1e-5)
    past, present = cache_names(shape.layers, "past"), cache_names(shape.layers, "present")
    lengths = ["seqlens_k", "total_sequence_length"]
    for i in range(shape.layers):
        b = f"blocks.{i}"
        cache_in, cache_out = past[2 * i : 2 * i + 2], present[2 * i : 2 * i + 2]
        qkv = linear(h, f"{b}.qkv", f"b{i}_qkv")  # packed q, k, v: the kernel splits the heads itself
        attn = node(
            "GroupQueryAttention",
            [qkv, "", "", *cache_in, *lengths],
            [f"b{i}_attn", *cache_out],
            domain="com.microsoft",
            num_heads=heads,
            kv_num_heads=heads,
            scale=1.0 / math.sqrt(head_dim),
        )
        h, x = skip_norm(
            matmul(attn, f"{b}.out", f"b{i}_out"), x, param(f"{b}.out.bias"), f"{b}.norm2", f"b{i}_ln2"
        )
        hidden = node("Gelu", [linear(h, f"{b}.ff_in", f"b{i}_ff")], f"b{i}_gelu", domain="com.microsoft")
        after = f"blocks.{i + 1}.norm1" if i + 1 < shape.layers else "norm"
        ff_out = matmul(hidden, f"{b}.ff_out", f"b{i}_ffo")
        h, x = skip_norm(ff_out, x, param(f"{b}.ff_out.bias"), after, f"b{i}_next")
    # The output projection is tied to the embedding: a transposed copy, so that it quantizes as a MatMul.
    node("MatMul", [h, param("embed.weight_t", weights["embed.weight"].T)], "logits")

    def tensor(name: str, kind: int, dims: list) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, kind, dims)

    graph = helper.make_graph(
        nodes,
        "edge-music",
        [
            tensor("input_ids", TensorProto.INT64, [1, "tokens"]),
            tensor("position_ids", TensorProto.INT64, [1, "tokens"]),
            tensor("seqlens_k", TensorProto.INT32, [1]),
            tensor("total_sequence_length", TensorProto.INT32, []),
            *(tensor(n, TensorProto.FLOAT, [1, heads, "past_tokens", head_dim]) for n in past),
        ],
        [
            tensor("logits", TensorProto.FLOAT, [1, "tokens", shape.vocab]),
            *(tensor(n, TensorProto.FLOAT, [1, heads, "all_tokens", head_dim]) for n in present),
        ],
        initializers,
    )
    opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid("com.microsoft", 1)]
    onnx_model = helper.make_model(graph, opset_imports=opsets, producer_name="edge-music")
    onnx_model.ir_version = 9
    onnx.checker.check_model(onnx_model)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(onnx_model, str(out))
    return out
