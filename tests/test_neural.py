"""The neural tiers end to end: train a tiny model with the real script, export it, play it.

This is also CI's training smoke test: a few steps on the CPU, then export,
int8 quantization and loading through the same registry the daemon uses.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.context.context import Context
from edge.engine import Engine
from edge.generator import tokens as T
from edge.generator.neural import STEP_INPUTS, cache_names
from edge.generator.registry import TierRegistry, sha256_of
from edge.music.conductor import Conductor
from edge.music.style import StyleLibrary
from edge.music.theory import scale_pitch_classes

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent
STYLES = ("ambient", "focus", "workout", "house")


def write_pieces(folder: Path) -> None:
    """A small corpus in the data builder's interchange format: scales over I-V-I, with a bass."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for index in range(12):
        key = int(rng.integers(12))
        bars = []
        for _ in range(10):
            degrees = rng.choice([0, 2, 4, 5, 7, 9, 11], size=4)
            melody = [[s, 60 + key % 7 + int(d), 4] for s, d in zip(range(0, 16, 4), degrees, strict=True)]
            chords = [[key, "maj"], [key, "maj"], [(key + 7) % 12, "dom7"], [key, "maj"]]
            bars.append({"meter": "4/4", "melody": melody, "bass": [[0, 36 + key, 8]], "chords": chords})
        split = "heldout" if index % 10 == 0 else "train"
        piece = {"id": f"t/{index}", "source": "bach", "tag": "bach", "split": split, "key": key,
                 "mode": "major", "bars": bars}  # fmt: skip
        lines.append(json.dumps(piece))
    (folder / "pieces.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "build.json").write_text(json.dumps({"sha256": "test", "sources": []}))


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """models/ with tier S = a tiny model trained and exported by scripts/train_model.py."""
    work = tmp_path_factory.mktemp("train")
    write_pieces(work / "data")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/train_model.py"), "--tier", "tiny", "--data", str(work / "data"),
         "--out", str(work / "ckpt"), "--models", str(work / "models"), "--threads", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return work / "models"


def test_the_smoke_run_ships_a_verified_int8_model_with_its_card(models: Path) -> None:
    manifest = json.loads((models / "manifest.json").read_text())
    (entry,) = manifest["models"]
    card = json.loads((models / "edge-S.onnx.json").read_text())
    assert entry["sha256"] == card["sha256"] == sha256_of(models / entry["file"])
    assert card["training"]["steps"] == 6 and "train_model.py" in card["training"]["command"]
    assert card["parameters"] > 1000 and "heldout_nll" in card["metrics"]
    import onnx

    graph = onnx.load(str(models / "edge-S.onnx")).graph
    layers = card["shape"]["layers"]
    assert [i.name for i in graph.input] == [*STEP_INPUTS, *cache_names(layers, "past")]
    assert card["inputs"] == [i.name for i in graph.input]
    assert [o.name for o in graph.output] == ["logits", *cache_names(layers, "present")]
    assert any(node.op_type in ("MatMulInteger", "DynamicQuantizeLinear") for node in graph.node)  # int8
    assert TierRegistry(models).available == ("S", "0")


def test_neural_bars_stay_in_key_in_range_and_one_note_at_a_time(models: Path) -> None:
    from edge.generator.neural import NeuralGenerator

    registry = TierRegistry(models)
    styles = StyleLibrary()
    for name in STYLES:
        style = styles.get(name)
        for mood in ("calm", "sad", "happy"):
            context = Context(style=name, mood=mood)
            conductor = Conductor(np.random.default_rng(3), context, style)
            generator = NeuralGenerator(
                "S", registry.session("S"), registry.card("S"), np.random.default_rng(4)
            )
            for _ in range(12):
                plan = conductor.next_plan(context, style)
                bar = generator.generate(plan, style)
                scale = set(scale_pitch_classes(plan.key, plan.mode))
                lead = bar.track("lead")
                assert all(n.pitch % 12 in scale for n in lead), (name, mood, plan.mode)
                assert all(plan.register[0] <= n.pitch <= plan.register[1] for n in lead)
                low, high = style.bass_register
                assert all(low <= n.pitch <= high for n in bar.track("bass"))
                for track in ("lead", "bass"):
                    notes = bar.track(track)
                    assert all(a.onset + a.duration <= b.onset + 1e-9 for a, b in itertools.pairwise(notes))
                assert bar.chords and sum(c.duration for c in bar.chords) == plan.beats
                assert all(c.quality in style.chords for c in bar.chords)
                assert bar.source == "S"


class Dice:
    """An RNG whose uniform draws (the sampler's one per token) always land on ``u``; the rest is seeded."""

    def __init__(self, u: float, seed: int) -> None:
        self.u = u
        self._rng = np.random.default_rng(seed)

    def random(self, size=None):
        return self.u if size is None else self._rng.random(size)

    def __getattr__(self, name: str):
        return getattr(self._rng, name)


def test_a_tight_nucleus_narrows_rhythm_and_chords_not_the_melody(models: Path, monkeypatch) -> None:
    """By construction, not by counting what a tiny model happened to write.

    The sampler draws one uniform number per token and walks the nucleus (the most likely allowed
    tokens, most likely first) until their probabilities add up to it. With the draw pinned at 0.999,
    the most likely token comes out when the nucleus holds only it, and another one whenever the
    nucleus is the whole distribution and the most likely token has p < 0.999. top_p = 0.001 holds
    one token whatever the model says: the most likely of fewer than 1000 tokens has p > 0.001.
    """
    from edge.generator.neural import NeuralGenerator

    assert len(T.VOCAB) < 1000
    registry = TierRegistry(models)
    style = StyleLibrary().get("focus")
    context = Context(style="focus", mood="calm")
    drawn: list[tuple[bool, int, np.ndarray]] = []  # (a pitch-only draw?, token, its probabilities)
    pitches = np.zeros(len(T.VOCAB), dtype=bool)
    pitches[[*T.MEL_IDS, *T.BAS_IDS]] = True
    sample = NeuralGenerator._sample

    def spy(self, logits, allowed, top_p=None):
        token = sample(self, logits, allowed, top_p)
        scores = np.where(allowed, logits.astype(np.float64) / self.temperature, -np.inf)
        probs = np.exp(scores - scores.max())
        drawn.append((not (allowed & ~pitches).any(), token, probs / probs.sum()))
        return token

    monkeypatch.setattr(NeuralGenerator, "_sample", spy)

    def play(u: float, constrained: bool) -> list[list[int]]:
        drawn.clear()
        conductor = Conductor(np.random.default_rng(3), context, style)
        generator = NeuralGenerator(
            "S", registry.session("S"), registry.card("S"), Dice(u, 4), top_p=0.001, constrained=constrained
        )
        written = []
        for _ in range(16):
            generator.generate(conductor.next_plan(context, style), style)
            written.append(T.split_bars(generator.history)[-1])  # the bar's tokens, as the model wrote them
        return written

    # With the masks: rhythm (and chords, when the plan has none) from the tightest nucleus, the most
    # likely token each time; every pitch from the whole distribution over the allowed pitches.
    play(0.999, constrained=True)
    notes = [(token, p) for pitch, token, p in drawn if pitch]
    others = [(token, p) for pitch, token, p in drawn if not pitch]
    assert notes and others
    assert all(token == int(np.argmax(p)) for token, p in others)
    unsure = [(token, p) for token, p in notes if p.max() < 0.99]  # a full nucleus draws the tail here
    assert unsure and all(token != int(np.argmax(p)) for token, p in unsure)

    # The model alone (grammar only): the nucleus cuts pitches too, so the dice change nothing.
    assert play(0.0, constrained=False) == play(0.999, constrained=False)
    assert all(token == int(np.argmax(p)) for _, token, p in drawn)


def test_the_engine_plays_the_neural_tier_reproducibly(models: Path) -> None:
    styles = StyleLibrary()
    context = Context(style="focus", mood="calm")

    def run(seed: int) -> tuple[np.ndarray, list[str]]:
        bars = []
        engine = Engine(
            styles, lambda: context, seed, on_bar=bars.append, registry=TierRegistry(models), tier="S"
        )
        audio = np.concatenate([engine.render_block(1024) for _ in range(300)])
        return audio, [b.source for b in bars]

    first, sources = run(7)
    again, _ = run(7)
    other, _ = run(8)
    assert set(sources) == {"S"}
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert np.sqrt(np.mean(first**2)) > 1e-3  # music, not silence


def test_tier_switches_happen_at_bar_lines_and_continue_the_music(models: Path, tmp_path: Path) -> None:
    folder = tmp_path / "models"
    shutil.copytree(models, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    shutil.copy(folder / "edge-S.onnx", folder / "edge-M.onnx")
    shutil.copy(folder / "edge-S.onnx.json", folder / "edge-M.onnx.json")
    manifest["models"].append({**manifest["models"][0], "tier": "M", "file": "edge-M.onnx"})
    (folder / "manifest.json").write_text(json.dumps(manifest))
    bars = []
    styles = StyleLibrary()
    engine = Engine(styles, lambda: Context(style="ambient"), 1, on_bar=bars.append,
                    registry=TierRegistry(folder), tier="S")  # fmt: skip
    engine.render_block(1024)
    engine.pending_tier = "M"
    for _ in range(200):
        engine.render_block(1024)
    engine.pending_tier = "0"
    for _ in range(200):
        engine.render_block(1024)
    sources = [b.source for b in bars]
    assert sources[0] == "S" and "M" in sources and sources[-1] == "tier0"
    first_m = sources.index("M")
    assert set(sources[first_m : sources.index("tier0")]) == {"M"}


def install_graph(models: Path, folder: Path, inputs: list[str], outputs: list[str]) -> TierRegistry:
    """models/ with tier S replaced by a graph that passes each input through to an output."""
    import onnx
    from onnx import TensorProto, helper

    shutil.copytree(models, folder)
    card = json.loads((folder / "edge-S.onnx.json").read_text())
    heads, width = card["shape"]["heads"], card["shape"]["width"]
    nodes = [helper.make_node("Identity", [i], [o]) for i, o in zip(inputs, outputs, strict=True)]
    dims = [1, heads, "n", width // heads]
    graph = helper.make_graph(
        nodes,
        "wrong",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, dims) for n in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, dims) for n in outputs],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(folder / "edge-S.onnx"))
    manifest = {"models": [{"tier": "S", "file": "edge-S.onnx", "sha256": sha256_of(folder / "edge-S.onnx")}]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return TierRegistry(folder)


def play_tier_s(registry: TierRegistry) -> tuple[list, np.ndarray]:
    bars = []
    engine = Engine(StyleLibrary(), lambda: Context(style="house"), 1, on_bar=bars.append,
                    registry=registry, tier="S")  # fmt: skip
    return bars, np.concatenate([engine.render_block(1024) for _ in range(200)])


def test_a_model_with_other_inputs_is_refused_with_a_reason_and_tier_0_plays(
    models, tmp_path, caplog
) -> None:
    registry = install_graph(models, tmp_path / "models", ["x"], ["y"])
    bars, audio = play_tier_s(registry)
    assert bars and all(b.source == "tier0" for b in bars)
    assert np.sqrt(np.mean(audio**2)) > 1e-3
    assert "takes inputs x; this edge-music needs input_ids, position_ids" in registry.disabled["S"]


def test_a_model_that_cannot_decode_costs_notes_never_audio(models: Path, tmp_path: Path, caplog) -> None:
    """A graph with the runtime's inputs whose outputs are nonsense: every bar fails, tier 0 plays it."""
    layers = json.loads((models / "edge-S.onnx.json").read_text())["shape"]["layers"]
    inputs = [*STEP_INPUTS, *cache_names(layers, "past")]
    outputs = ["logits", *cache_names(layers, "present"), "a", "b", "c"]
    # Every input is declared float: the graph loads, and each run fails on the int64 token ids.
    registry = install_graph(models, tmp_path / "models", inputs, outputs[: len(inputs)])
    bars, audio = play_tier_s(registry)
    assert bars and all(b.source == "tier0" for b in bars)
    assert np.sqrt(np.mean(audio**2)) > 1e-3
    assert any("tier S failed on bar" in r.getMessage() for r in caplog.records)


def test_render_cli_chooses_the_tier_and_says_which_played(models: Path, tmp_path: Path) -> None:
    config = tmp_path / "edge.toml"
    config.write_text(f'[generator]\nmodels_dir = "{models}"\n')
    base = [
        sys.executable,
        "-m",
        "edge",
        "render",
        "--config",
        str(config),
        "--quiet",
        "--null",
        "--seconds",
        "20",
    ]
    result = subprocess.run([*base, "--tier", "S"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "tier S:" in result.stderr and "tier 0" not in result.stderr
    result = subprocess.run([*base, "--tier", "L"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--tier L" in result.stderr and "S, 0" in result.stderr


def test_three_four_bars_have_three_beats_of_harmony_and_notes(models: Path) -> None:
    from edge.generator.neural import NeuralGenerator

    registry = TierRegistry(models)
    style = StyleLibrary().get("focus")
    context = Context(style="focus", meter=3)
    conductor = Conductor(np.random.default_rng(5), context, style)
    generator = NeuralGenerator("S", registry.session("S"), registry.card("S"), np.random.default_rng(6))
    for _ in range(8):
        plan = conductor.next_plan(context, style)
        bar = generator.generate(plan, style)
        assert plan.beats == 3
        assert sum(c.duration for c in bar.chords) == 3
        assert all(0 <= n.onset < 3 and n.onset + n.duration <= 3 + 1e-9 for n in bar.track("lead"))


def test_the_density_budget_steers_the_melody_towards_the_planned_bucket(models: Path, monkeypatch) -> None:
    """Sleep plans ask for density bucket 0 (at most 2 melody notes in 4 beats) in a style with a bass
    that allows up to 4 (focus: so the bucket is the steer's to keep, not the style's ceiling's);
    the tiny model, left to itself under the masks, writes more a good part of the time."""
    from edge.generator import grammar
    from edge.generator.neural import NeuralGenerator, plan_controls

    registry = TierRegistry(models)
    style = StyleLibrary().get("focus")
    assert style.bass is not None and style.density[1] * 4 >= 4
    shipped = grammar.DENSITY_BIAS

    def in_bucket(bias: float, bars: int) -> float:
        monkeypatch.setattr(grammar, "DENSITY_BIAS", bias)
        generator = NeuralGenerator("S", registry.session("S"), registry.card("S"), np.random.default_rng(9))
        context = Context(style="focus", activity="sleep", mood="calm")
        conductor = Conductor(np.random.default_rng(8), context, style)
        found = []
        for _ in range(bars):
            plan = conductor.next_plan(context, style)
            lead = generator.generate(plan, style).track("lead")
            wanted = plan_controls(plan, "bach").density
            assert wanted == 0
            found.append(T.bucket(len(lead) / plan.beats, T.DENSITY_EDGES) == wanted)
        return float(np.mean(found))

    # By construction: past the budget every melody pitch is 1e4 logits down, which exp() turns into
    # a probability of exactly 0, and the bass (or ending the bar) is always allowed instead.
    assert in_bucket(1e4, 48) == 1.0
    # The shipped penalty, measured: 500 bars each way. Steered, 0.9975-1.0 of the bars land in the
    # bucket (focus, 5 seeds x 400 bars), so SE <= 0.003 and 0.97 is 9+ SE below; unsteered
    # 0.67-0.72, so SE 0.021 for p = 0.7, n = 500, and the gap (0.28-0.33) is 8+ SE above the 0.1.
    steered, alone = in_bucket(shipped, 500), in_bucket(0.0, 500)
    assert steered >= 0.97 and steered >= alone + 0.1, (steered, alone)


def test_training_resumes_from_its_checkpoint_to_the_same_weights(tmp_path: Path) -> None:
    """Stopped after a step and resumed, a run ends exactly where an uninterrupted one does."""
    import torch

    from edge.training.recipes import RECIPES
    from edge.training.train import TrainConfig, train

    write_pieces(tmp_path / "data")
    recipe = {**RECIPES["tiny"], "steps": 6}
    whole = train(TrainConfig(tier="tiny", data=tmp_path / "data", out=tmp_path / "whole", **recipe))
    # --max-minutes stops the run after its first step (resumably); the same command then finishes it.
    stopped = train(
        TrainConfig(tier="tiny", data=tmp_path / "data", out=tmp_path / "split", max_minutes=1e-9, **recipe)
    )
    assert torch.load(stopped, weights_only=False)["step"] == 1
    resumed = train(TrainConfig(tier="tiny", data=tmp_path / "data", out=tmp_path / "split", **recipe))
    a, b = torch.load(whole, weights_only=False), torch.load(resumed, weights_only=False)
    assert a["step"] == b["step"] == 6 and b["done"]
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_playing_a_neural_tier_never_loads_the_training_stack(models: Path) -> None:
    """torch and music21 are the train extra, absent from a daemon install: playing must not import them."""
    code = (
        "import sys\n"
        "from edge.context.context import Context\n"
        "from edge.engine import Engine\n"
        "from edge.generator.registry import TierRegistry\n"
        "from edge.music.style import StyleLibrary\n"
        "import edge.daemon\n"
        f"registry = TierRegistry({str(models)!r})\n"
        "engine = Engine(StyleLibrary(), lambda: Context(style='focus'), 1, registry=registry, tier='S')\n"
        "for _ in range(50):\n"
        "    engine.render_block(1024)\n"
        "print(engine.tier, sorted(m for m in ('torch', 'music21') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["S", "[]"], result.stderr[-2000:]


def test_the_model_writes_over_the_planned_chords_in_any_mode(models: Path) -> None:
    """The conductor's harmony is fed to the model as given, in a minor key the tiny model never saw:
    the chord tokens after each bar's controls are the plan's, and so are the chords the band plays."""
    import dataclasses

    from edge.generator import neural
    from edge.generator.phrasing import planned_chord_tokens

    registry = TierRegistry(models)
    style = StyleLibrary().get("focus")
    generator = neural.NeuralGenerator(
        "S", registry.session("S"), registry.card("S"), np.random.default_rng(5)
    )
    context = Context(style="focus", activity="focus")
    conductor = Conductor(np.random.default_rng(6), context, style)
    for _ in range(24):
        plan = dataclasses.replace(conductor.next_plan(context, style), mode="aeolian")
        bar = generator.generate(plan, style)
        assert bar.chords == plan.chords and bar.source == "S"
        controls = neural.plan_controls(plan, generator.tag_for(style)).tokens()
        last = T.split_bars(generator.history)[-1]
        assert last[: len(controls)] == controls
        assert last[len(controls) : len(controls) + plan.beats] == planned_chord_tokens(plan)


def test_under_a_full_step_pull_every_melody_note_moves_by_step_even_at_the_bass_onset(
    models: Path, monkeypatch
) -> None:
    """By construction: with the step pull at 1e4 logits, exp() leaves a pitch that is no step from
    the line's last note exactly no chance wherever a step is allowed. Ambient puts its bass and
    most melody notes on the downbeat, where the melody note comes straight after the bass (the
    grammar's POS state): those notes are steered too, not only the ones after a POS."""
    from edge.generator import steering
    from edge.generator.neural import NeuralGenerator

    monkeypatch.setattr(steering, "STEP_PULL", 1e4)
    registry = TierRegistry(models)
    style = StyleLibrary().get("ambient")
    generator = NeuralGenerator("S", registry.session("S"), registry.card("S"), np.random.default_rng(4))
    context = Context(style="ambient", activity="relax")
    conductor = Conductor(np.random.default_rng(3), context, style)
    checked = after_bass = 0
    last = None
    for _ in range(96):
        plan = conductor.next_plan(context, style)
        lead = generator.generate(plan, style).track("lead")
        written = not plan.phrase_label.endswith("'")  # a return may replay its motif as stated
        names = [T.VOCAB[t] for t in T.split_bars(generator.history)[-1]]
        after_bass += (
            written
            and sum(  # BAS_p DUR_d MEL_q: a melody note at the bass's onset
                a.startswith("BAS_") and c.startswith("MEL_") for a, c in zip(names, names[2:], strict=False)
            )
        )
        scale = set(scale_pitch_classes(plan.key, plan.mode))
        low, high = plan.register
        for i, note in enumerate(lead):
            cadence = plan.cadence and i == len(lead) - 1  # moved onto the cadence chord afterwards
            steps = [p for p in (-2, -1, 1, 2) if last is not None and low <= last + p <= high]
            steps = [p for p in steps if (last + p) % 12 in scale]
            if written and not cadence and steps:
                assert note.pitch - last in steps, (plan.index, note, last)
                checked += 1
            last = note.pitch
    assert checked >= 40 and after_bass >= 10, (checked, after_bass)


def test_a_chord_the_model_picks_itself_sounds_the_modes_third_under_a_full_pull(
    models: Path, monkeypatch
) -> None:
    """A plan without harmony lets the model pick its chords; at 1e4 logits every pick carries the
    requested mode's third (E flat for C minor), so the bar cannot read as the other mode by its chords."""
    import dataclasses

    from edge.generator import neural, steering

    monkeypatch.setattr(steering, "MODE_CHORD_PULL", 1e4)
    registry = TierRegistry(models)
    style = StyleLibrary().get("workout")
    session, card = registry.session("S"), registry.card("S")
    generator = neural.NeuralGenerator("S", session, card, np.random.default_rng(2))
    context = Context(style="workout", activity="workout")
    conductor = Conductor(np.random.default_rng(1), context, style)
    for _ in range(16):
        plan = dataclasses.replace(conductor.next_plan(context, style), chords=(), cadence="", mode="aeolian")
        generator.generate(plan, style)
        controls = neural.plan_controls(plan, generator.tag_for(style)).tokens()
        chords = T.split_bars(generator.history)[-1][len(controls) : len(controls) + plan.beats]
        third = (plan.key + 3) % 12
        for token in chords:
            _, root, kind = T.VOCAB[token].split("_")
            assert any((int(root) + s) % 12 == third for s in T.CHORD_KINDS[kind]), T.VOCAB[token]
