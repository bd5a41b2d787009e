"""Held-out likelihood, speed and memory of an exported model: int8 ONNX vs fp32 ONNX vs PyTorch eager."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.generator.neural import Decoder, empty_cache, step_inputs

if TYPE_CHECKING:
    from edge.training.evaluate import Sizes

ROOT = Path(__file__).resolve().parents[2]


def nll_onnx(session: Any, windows: np.ndarray, shape: dict) -> float:
    """Mean NLL per token (nats) of an ONNX model over full-context windows with an empty past."""
    past = empty_cache(shape)
    total, count = 0.0, 0
    for window in windows:
        logits = session.run(None, {**step_inputs(window[None, :-1], 0), **past})[0]
        z = logits[0].astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        total -= float(logp[np.arange(len(window) - 1), window[1:]].sum())
        count += len(window) - 1
    return total / max(1, count)


def nll_torch(model: Any, windows: np.ndarray, batch: int = 8) -> float:
    """The same figure from the fp32 checkpoint in PyTorch."""
    import torch
    from torch.nn import functional as F

    total, count = 0.0, 0
    with torch.inference_mode():
        for i in range(0, len(windows), batch):
            x = torch.from_numpy(windows[i : i + batch])
            logits, _ = model(x[:, :-1])
            total += float(
                F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), reduction="sum")
            )
            count += x[:, 1:].numel()
    return total / max(1, count)


def find_checkpoint(folder: Path, tier: str, card: dict) -> tuple[Path, Any] | None:
    """The finished checkpoint the card was exported from (same shape, steps and data), with its model."""
    if not folder.is_dir():
        return None
    candidates = [folder / f"{tier}.pt", *sorted(p for p in folder.glob("*.pt") if p.name != f"{tier}.pt")]
    if not any(p.is_file() for p in candidates):
        return None
    try:
        from edge.training.export import load_checkpoint
    except ImportError:  # no torch: the fp32 and eager columns stay empty
        return None
    for path in candidates:
        if not path.is_file():
            continue
        model, state = load_checkpoint(path)
        training = card.get("training", {})
        same = state.get("shape") == card["shape"] and state.get("step") == training.get("steps")
        same = same and state.get("data", {}).get("sha256") == training.get("data_sha256")
        if state.get("done") and same:
            return path, model
    return None


def _median_ms(calls: dict[str, Any], repeats: int, burst: int = 10) -> dict[str, float]:
    """Median wall time per call of each backend, the backends taking turns so load changes hit all alike.

    Each turn is a burst of consecutive calls, as in the daemon, which decodes a bar's tokens one
    after another: a model's weights stay in the CPU caches between its own steps. Alternating
    single calls would instead time every backend with caches just emptied by another one.
    """
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        for _ in range(3):
            call()
    for _ in range(max(1, repeats // burst)):
        for name, call in calls.items():
            start = time.perf_counter()
            for _ in range(burst):
                call()
            times[name].append((time.perf_counter() - start) / burst)
    return {name: float(np.median(t) * 1000) for name, t in times.items()}


def speed_table(int8: Any, fp32: Any, model: Any, shape: dict, stream: np.ndarray, sizes: Sizes) -> dict:
    """int8 ORT vs fp32 ORT vs PyTorch eager: one KV step after context-1 tokens, and a full forward.

    The ONNX models run the way the daemon runs them, through ``Decoder`` (cache updated in
    place); eager is the training model's forward, whose cache grows by concatenation.
    """
    context = int(shape["context"])
    ids = np.resize(stream.astype(np.int64), context)
    backends: dict[str, Any] = {"int8": int8}
    if fp32 is not None:
        backends["fp32"] = fp32
    step_calls, full_calls = {}, {}
    for name, session in backends.items():
        decoder = Decoder(session, context, shape)
        decoder.feed(ids[:-1])
        step_calls[name] = lambda d=decoder: (d.truncate(context - 1), d.feed(ids[-1:]))
        full_calls[name] = lambda d=decoder: (d.truncate(0), d.feed(ids))
    if model is not None:
        import torch

        empty = [torch.from_numpy(v) for v in empty_cache(shape).values()]
        t_ids = torch.from_numpy(ids[None, :])
        with torch.inference_mode():
            _, t_past = model(t_ids[:, :-1], empty)

        def eager(x, p):
            with torch.inference_mode():
                model(x, p)

        step_calls["eager"] = lambda: eager(t_ids[:, -1:], t_past)
        full_calls["eager"] = lambda: eager(t_ids, empty)
    return {
        "context": context,
        "step": _median_ms(step_calls, sizes.step_repeats),
        "full": _median_ms(full_calls, sizes.full_repeats),
    }


def matmul_bound(shape: dict, folder: Path, repeats: int) -> dict[str, float]:
    """Median ms of a KV step's matrix products alone, int8 and fp32: the most int8 can gain.

    A graph of one token's matmuls at the tier's sizes (per layer q/k/v, output, feed-forward in
    and out, then the output projection) with random weights, quantized like the shipped model.
    Everything else a step does (attention, norms, the call itself) costs fp32 and int8 alike, so
    the step's int8 speed-up is below this one.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edge.training.export import quantize

    width, vocab = int(shape["width"]), int(shape["vocab"])
    rng = np.random.default_rng(0)
    nodes, weights, outputs = [], [], []
    sizes = [("x", width, 3 * width), ("x", width, width), ("x", width, 4 * width), ("h", 4 * width, width)]
    for i, (source, rows, cols) in enumerate(sizes * int(shape["layers"]) + [("x", width, vocab)]):
        weights.append(numpy_helper.from_array(rng.normal(0, 0.05, (rows, cols)).astype(np.float32), f"w{i}"))
        nodes.append(helper.make_node("MatMul", [source, f"w{i}"], [f"y{i}"]))
        outputs.append(helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, [1, 1, cols]))
    dims = (("x", width), ("h", 4 * width))
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 1, d]) for n, d in dims]
    graph = helper.make_graph(nodes, "matmuls", inputs, outputs, weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    fp32 = folder / "matmuls.fp32.onnx"
    onnx.save(model, str(fp32))
    paths = {"int8": quantize(fp32, folder / "matmuls.int8.onnx"), "fp32": fp32}
    feeds = {n: rng.random((1, 1, d), dtype=np.float32) for n, d in dims}
    calls = {}
    for name, path in paths.items():
        session = ort_session(path)
        binding = session.io_binding()  # bound once, as the Decoder does: the call's own cost only
        for key, value in feeds.items():
            binding.bind_cpu_input(key, value)
        for out in outputs:
            binding.bind_output(out.name)
        calls[name] = lambda s=session, b=binding: s.run_with_iobinding(b)
    return _median_ms(calls, repeats)


def ort_session(path: Path) -> Any:
    """An onnxruntime session with the daemon's settings."""
    import onnxruntime as ort

    from edge.generator.registry import session_options

    return ort.InferenceSession(str(path), sess_options=session_options(), providers=["CPUExecutionProvider"])


RSS_PROBE = """
import json, sys
import numpy as np, onnxruntime as ort, psutil
from edge.generator.registry import session_options
proc = psutil.Process()
base = proc.memory_info().rss
cpu = ["CPUExecutionProvider"]
session = ort.InferenceSession(sys.argv[1], sess_options=session_options(), providers=cpu)
loaded = proc.memory_info().rss
from edge.generator.neural import Decoder
layers, heads, head_dim, context = map(int, sys.argv[2:6])
Decoder(session, context, {"layers": layers, "heads": heads, "width": heads * head_dim}).feed([0] * context)
print(json.dumps({"base": base, "loaded": loaded, "ran": proc.memory_info().rss}))
"""


def rss(path: Path, shape: dict) -> dict:
    """RSS (MiB) of a fresh process: bare imports, after creating the session, after a full forward."""
    heads = int(shape["heads"])
    args = [str(v) for v in (shape["layers"], heads, int(shape["width"]) // heads, shape["context"])]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, str(path), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    return {k: v / 2**20 for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}


def speedup(times: dict[str, float], other: str) -> float | None:
    """How many times faster int8 is than ``other`` in one of speed_table's timings (None without it)."""
    return times[other] / times["int8"] if other in times else None
