"""From a finished checkpoint to a shipped model: ONNX with an explicit KV cache, int8, a card.

Writes ``<models>/edge-<tier>.onnx`` (the graph of ``edge.training.graph``,
dynamic int8), its JSON card beside it
(Piper style) and the tier's line in ``<models>/manifest.json``. The fp32
graph stays next to the checkpoint for the speed comparison in
``scripts/eval_models.py``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from edge.generator import tokens as T
from edge.generator.neural import STEP_INPUTS, cache_names
from edge.generator.registry import sha256_of
from edge.training.graph import build_graph
from edge.training.model import ModelShape, MusicTransformer, parameter_count

log = logging.getLogger(__name__)


def load_checkpoint(path: Path) -> tuple[MusicTransformer, dict]:
    """The model of a checkpoint, in eval mode, and the checkpoint's metadata."""
    state = torch.load(path, weights_only=False)
    model = MusicTransformer(ModelShape(**state["shape"]))
    model.load_state_dict(state["model"])
    model.eval()
    return model, state


def io_names(layers: int) -> tuple[list[str], list[str]]:
    """Graph input and output names: the tokens and the cache in, logits and the new cache out."""
    return [*STEP_INPUTS, *cache_names(layers, "past")], ["logits", *cache_names(layers, "present")]


def quantize(fp32: Path, out: Path) -> Path:
    """Dynamic int8 quantization of the weights (activations stay float, scaled per call)."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs a line per tensor it leaves alone, and advice
    try:
        # Shape inference stops at onnxruntime's own ops (the attention): what follows is float.
        options = {"DefaultTensorType": TensorProto.FLOAT}
        quantize_dynamic(
            str(fp32),
            str(out),
            op_types_to_quantize=["MatMul"],  # embeddings stay float: a lookup gains nothing from int8
            weight_type=QuantType.QInt8,
            extra_options=options,
        )
    finally:
        root.setLevel(level)
    return out


def card_collections(sources: list, shares: dict) -> list:
    """The training sources with each one's training tokens and share of them (when known)."""
    return [{**s, **shares.get(s.get("name"), {})} if isinstance(s, dict) else s for s in sources]


def model_card(
    tier: str,
    model: MusicTransformer,
    state: dict,
    onnx_path: Path,
    command: str,
    author: str = "",
    licence: str = "",
) -> dict:
    """What a user (and the runtime) needs to know about a shipped model.

    ``author`` (who trained it) and ``licence`` (the terms of the weights) are recorded when
    given; the attribution ledger credits the model to the author ("unattributed" without).
    Each collection carries its share of the training
    tokens, by which the ledger splits the model's seconds among its sources.
    """
    data = state.get("data", {})
    return {
        "name": onnx_path.stem,
        "tier": tier,
        **({"author": author} if author else {}),
        **({"licence": licence} if licence else {}),
        "parameters": parameter_count(model),
        "shape": state["shape"],
        "vocab_size": len(T.VOCAB),
        "vocab_hash": state["vocab_hash"],
        "inputs": io_names(model.shape.layers)[0],
        "outputs": io_names(model.shape.layers)[1],
        "quantization": "dynamic int8 (onnxruntime.quantization.quantize_dynamic): QInt8 weights of "
        "every MatMul, float embeddings",
        "training": {
            "command": command,
            "steps": state["step"],
            "batch": state["config"]["batch"],
            "context": state["config"]["context"],
            "seed": state["config"]["seed"],
            "threads": state["config"]["threads"],
            "minutes": round(state.get("seconds", 0.0) / 60, 1),
            "torch": state.get("torch"),
            "data_sha256": data.get("sha256"),
        },
        "collections": card_collections(data.get("sources", []), data.get("shares", {})),
        # The style tags this model knows; the runtime asks for one of these.
        "tags": sorted({s["tag"] for s in data.get("sources", []) if isinstance(s, dict) and "tag" in s}),
        "metrics": {"heldout_nll": round(state["heldout_nll"], 4)} if "heldout_nll" in state else {},
        "sha256": sha256_of(onnx_path),
    }


def update_manifest(models_dir: Path, tier: str, onnx_path: Path) -> None:
    """Add or replace the tier's line in ``manifest.json`` (sorted, so the file is reproducible)."""
    manifest = models_dir / "manifest.json"
    data = json.loads(manifest.read_text()) if manifest.exists() else {"models": []}
    models = [m for m in data["models"] if m["tier"] != tier]
    models.append({"tier": tier, "file": onnx_path.name, "sha256": sha256_of(onnx_path)})
    order = {"S": 0, "M": 1, "L": 2}
    data["models"] = sorted(models, key=lambda m: (order.get(m["tier"], 9), m["tier"]))
    manifest.write_text(json.dumps(data, indent=2) + "\n")


def export(
    checkpoint: Path,
    models_dir: Path,
    command: str,
    tier: str | None = None,
    author: str = "",
    licence: str = "",
) -> Path:
    """Export, quantize, write the card and the manifest line; returns the int8 model's path."""
    model, state = load_checkpoint(checkpoint)
    if not state.get("done"):
        raise ValueError(f"{checkpoint} is not finished (step {state['step']}); resume training first")
    tier = tier or state["config"]["tier"]
    fp32 = build_graph(model, checkpoint.with_suffix(".fp32.onnx"))
    int8 = quantize(fp32, models_dir / f"edge-{tier}.onnx")
    card = model_card(tier, model, state, int8, command, author=author, licence=licence)
    card_path = int8.with_name(int8.name + ".json")
    old = json.loads(card_path.read_text()) if card_path.exists() else {}
    if old.get("sha256") == card["sha256"]:
        card["metrics"] = {**old.get("metrics", {}), **card["metrics"]}  # keep eval_models.py's figures
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    update_manifest(models_dir, tier, int8)
    log.info("wrote %s (%d parameters, sha256 %s...)", int8, card["parameters"], card["sha256"][:12])
    return int8
