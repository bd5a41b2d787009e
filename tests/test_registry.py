"""Model files are verified before use: a missing, corrupt or unloadable model disables its tier."""

import json
import logging

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edge.generator.neural import step_inputs
from edge.generator.registry import TierRegistry, sha256_of
from edge.generator.tokens import vocab_hash


def tiny_model(path):
    """A real (if trivial) ONNX graph with the runtime's inputs: logits = input_ids + 1, cache passed on."""
    f32, i64, i32 = TensorProto.FLOAT, TensorProto.INT64, TensorProto.INT32
    cache = [1, 1, "n", 1]
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["input_ids"], ["ids"], to=f32),
            helper.make_node("Add", ["ids", "one"], ["logits"]),
            helper.make_node("Identity", ["past_key_0"], ["present_key_0"]),
            helper.make_node("Identity", ["past_value_0"], ["present_value_0"]),
        ],
        "tiny",
        [
            helper.make_tensor_value_info("input_ids", i64, [1, "t"]),
            helper.make_tensor_value_info("position_ids", i64, [1, "t"]),
            helper.make_tensor_value_info("seqlens_k", i32, [1]),
            helper.make_tensor_value_info("total_sequence_length", i32, []),
            helper.make_tensor_value_info("past_key_0", f32, cache),
            helper.make_tensor_value_info("past_value_0", f32, cache),
        ],
        [
            helper.make_tensor_value_info("logits", f32, [1, "t"]),
            helper.make_tensor_value_info("present_key_0", f32, cache),
            helper.make_tensor_value_info("present_value_0", f32, cache),
        ],
        [helper.make_tensor("one", f32, [1], [1.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    card(path)


def card(path, vocab=None):
    """The JSON card a model ships with."""
    shape = {"layers": 1, "heads": 1, "width": 1, "context": 8}
    data = {"tier": "S", "shape": shape, "vocab_hash": vocab or vocab_hash()}
    path.with_name(path.name + ".json").write_text(json.dumps(data))


def manifest(folder, entries):
    (folder / "manifest.json").write_text(json.dumps({"models": entries}))


def test_verified_model_loads_with_pi_settings(tmp_path):
    tiny_model(tmp_path / "s.onnx")
    manifest(tmp_path, [{"tier": "S", "file": "s.onnx", "sha256": sha256_of(tmp_path / "s.onnx")}])
    registry = TierRegistry(tmp_path)
    assert registry.available == ("S", "0")
    session = registry.session("S")
    ids = np.array([[2]], dtype=np.int64)
    cache = np.zeros((1, 1, 0, 1), dtype=np.float32)
    feeds = {**step_inputs(ids, 0), "past_key_0": cache, "past_value_0": cache}
    assert session.run(None, feeds)[0][0, 0] == pytest.approx(3.0)
    assert session.get_session_options().intra_op_num_threads == 1


def test_corrupt_or_missing_models_fall_back_with_one_clear_line(tmp_path, caplog):
    tiny_model(tmp_path / "m.onnx")
    tiny_model(tmp_path / "l.onnx")
    good = sha256_of(tmp_path / "l.onnx")
    (tmp_path / "l.onnx").write_bytes(b"\x00" * 64)  # corrupted after the manifest was written
    manifest(
        tmp_path,
        [
            {"tier": "L", "file": "l.onnx", "sha256": good},
            {"tier": "M", "file": "m.onnx", "sha256": sha256_of(tmp_path / "m.onnx")},
            {"tier": "S", "file": "gone.onnx", "sha256": "0" * 64},
        ],
    )
    with caplog.at_level(logging.ERROR):
        registry = TierRegistry(tmp_path)
    assert registry.available == ("M", "0")
    assert registry.best_at_most("L") == "M"
    assert registry.best_at_most("S") == "0"
    messages = [r.getMessage() for r in caplog.records]
    assert any("tier L disabled" in m and "sha256" in m for m in messages)
    assert any("tier S disabled" in m and "missing" in m for m in messages)


def test_a_model_that_matches_but_will_not_load_is_disabled(tmp_path, caplog):
    (tmp_path / "s.onnx").write_bytes(b"not an onnx file")
    card(tmp_path / "s.onnx")
    manifest(tmp_path, [{"tier": "S", "file": "s.onnx", "sha256": sha256_of(tmp_path / "s.onnx")}])
    registry = TierRegistry(tmp_path)
    with caplog.at_level(logging.ERROR):
        assert registry.session("S") is None
    assert registry.available == ("0",)
    assert any("does not load" in r.getMessage() for r in caplog.records)


def test_no_manifest_means_tier_zero_only(tmp_path):
    assert TierRegistry(tmp_path).available == ("0",)


def test_a_model_for_another_tokenizer_or_without_a_card_is_disabled(tmp_path, caplog):
    tiny_model(tmp_path / "s.onnx")
    tiny_model(tmp_path / "m.onnx")
    card(tmp_path / "s.onnx", vocab="f" * 64)
    (tmp_path / "m.onnx.json").unlink()
    manifest(
        tmp_path,
        [
            {"tier": "S", "file": "s.onnx", "sha256": sha256_of(tmp_path / "s.onnx")},
            {"tier": "M", "file": "m.onnx", "sha256": sha256_of(tmp_path / "m.onnx")},
        ],
    )
    with caplog.at_level(logging.ERROR):
        registry = TierRegistry(tmp_path)
    assert registry.available == ("0",)
    messages = [r.getMessage() for r in caplog.records]
    assert any("tier S disabled" in m and "another tokenizer" in m for m in messages)
    assert any("tier M disabled" in m and "card" in m for m in messages)
