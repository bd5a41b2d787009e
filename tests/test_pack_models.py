"""An installed pack's artist model plays its style: packs made in tmp_path (outside the source tree),
installed with `edge-music pack install`, played by the real engine and onnxruntime, credited
through a real SQLite ledger and real C2PA credentials."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.cli import main
from edge.context.context import Context
from edge.digest import sha256_of
from edge.engine import Engine
from edge.generator.registry import TierRegistry
from edge.ledger.contributors import Attribution, credit_line
from edge.ledger.recorder import Recorder
from edge.ledger.report import split
from edge.ledger.store import Store
from edge.music.style import StyleLibrary
from edge.session.format import model_hashes
from tests.pack_helpers import ARTIST, ROOT, artist_pack

PACK = "jane-rain"
SHIPPED = json.loads((ROOT / "models" / "manifest.json").read_text())["models"]
SHIPPED_SHA = {m["tier"]: m["sha256"] for m in SHIPPED}


@pytest.fixture
def home(tmp_path):
    """A config whose [packs] dir is in tmp_path, and a pack made outside the source tree."""

    class Home:
        packs = tmp_path / "packs"
        config = tmp_path / "config.toml"
        outside = tmp_path / "outside"

        def install(self, folder: Path) -> None:
            assert main(["pack", "--config", str(self.config), "install", str(folder)]) == 0

        def remove(self, name: str) -> None:
            assert main(["pack", "--config", str(self.config), "remove", name]) == 0

    h = Home()
    h.config.write_text(f'[packs]\ndir = "{h.packs}"\n')
    return h


def play(styles: StyleLibrary, registry: TierRegistry, style: str, tier: str, bars: int = 4) -> tuple:
    """``bars`` bars of ``style`` asked of ``tier``: the engine and the bars it wrote."""
    written: list = []
    context = Context(style=style)
    engine = Engine(styles, lambda: context, 5, on_bar=written.append, registry=registry, tier=tier)
    for _ in range(bars):
        engine.schedule_next_bar()
    return engine, written


def test_the_packs_model_writes_its_style_at_its_tier_and_above(home):
    home.install(artist_pack(home.outside, PACK, tier="S"))
    styles, registry = StyleLibrary(installed=home.packs), TierRegistry()
    for tier in ("S", "M", "L"):  # an S model costs no more than any neural tier: it stands in at each
        engine, bars = play(styles, registry, PACK, tier)
        assert {bar.source for bar in bars} == {f"S@{PACK}"}
        assert engine.tier == tier  # the governor's tier: what it asked for, no more
    _, bars = play(styles, registry, "focus", "S")  # a built-in style: the shipped model, as ever
    assert {bar.source for bar in bars} == {"S"}
    _, bars = play(styles, registry, PACK, "0")  # tier 0 is tier 0
    assert {bar.source for bar in bars} == {"tier0"}
    entry = registry.packs.entry(styles.get(PACK))
    assert entry.path == home.packs / PACK / "model" / "jane-S.onnx"
    assert entry.card["tags"] == ["user"]  # the control tag it is conditioned on is its card's
    assert engine.styles is styles


def test_a_larger_model_never_plays_below_its_tier(home):
    """The governor steps down for heat: an L model does not follow it to S (the shipped S does)."""
    home.install(artist_pack(home.outside, PACK, tier="L"))
    styles, registry = StyleLibrary(installed=home.packs), TierRegistry()
    _, at_l = play(styles, registry, PACK, "L", bars=2)
    _, at_s = play(styles, registry, PACK, "S", bars=2)
    assert {bar.source for bar in at_l} == {f"L@{PACK}"}
    assert {bar.source for bar in at_s} == {"S"}


def test_the_packs_model_and_its_artist_are_credited_in_the_ledger_and_the_header(home, tmp_path):
    home.install(artist_pack(home.outside, PACK))
    styles, registry = StyleLibrary(installed=home.packs), TierRegistry()
    _, bars = play(styles, registry, PACK, "S", bars=2)
    shares = Attribution(styles, registry)(PACK, bars[-1].source)
    line = credit_line(shares)  # what the MQTT state's credits say
    assert f"model jane-S (pack {PACK}) by Jane Doe" in line and "trained on Jane Doe 100%" in line
    recorder = Recorder(tmp_path / "ledger.db")
    recorder.played(shares, 60.0)
    assert recorder.flush()
    recorder.stop()
    with Store(tmp_path / "ledger.db", readonly=True) as store:
        summary = split(store)
    credited = {(e["kind"], e["name"]): e["credit"] for e in summary["contributors"]}
    assert credited[("model", f"jane-S (pack {PACK})")] == ARTIST
    assert credited[("source", "jane-songs")] == ARTIST
    assert credited[("style", PACK)] == "Ada Example"  # the pack's own author, beside the model's
    assert not any(name.startswith("edge-") for kind, name in credited if kind == "model")
    # What a session log's header records, so a replay plays this very file again.
    sha = sha256_of(home.packs / PACK / "model" / "jane-S.onnx")
    hashes = model_hashes(registry, styles)
    assert hashes[f"S@{PACK}"] == sha != SHIPPED_SHA["S"]
    assert hashes["S"] == SHIPPED_SHA["S"]


def test_a_render_is_signed_with_the_packs_model_and_about_names_it(home, tmp_path, capsys):
    home.install(artist_pack(home.outside, PACK))
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_MUSIC_")}
    env.update(PYTHONPATH=str(ROOT), EDGE_MUSIC_PACKS_DIR=str(home.packs), EDGE_MUSIC_MQTT_ENABLED="false")
    env.update(EDGE_MUSIC_CREDENTIALS_ENABLED="true", EDGE_MUSIC_CREDENTIALS_DIR=str(tmp_path / "keys"))
    out = tmp_path / "song.wav"

    def edge_music(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "edge", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)

    render = edge_music("render", "--quiet", "--seconds", "4", "--seed", "2", "--tier", "S", "--style", PACK,
                        "--out", str(out))  # fmt: skip
    assert render.returncode == 0, render.stderr
    assert f"tier S@{PACK}:" in render.stderr and "not signed" not in render.stderr
    verify = edge_music("verify", str(out))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    sha = sha256_of(home.packs / PACK / "model" / "jane-S.onnx")
    model = f"model: tier S jane-S.onnx sha256 {sha[:16]}... from pack {PACK} by {ARTIST} trained on jane-"
    assert model in verify.stdout
    assert "edge-S.onnx" not in verify.stdout
    assert main(["about", "--config", str(home.config)]) == 0
    about = capsys.readouterr().out
    assert f"tier S (jane-S, from pack {PACK}): author {ARTIST}, licence CC-BY-4.0" in about
    assert f"jane-songs: 100.0 % of the training data, credited to {ARTIST}" in about
    home.remove(PACK)  # the pack goes, and its model with it
    capsys.readouterr()
    assert main(["about", "--config", str(home.config)]) == 0
    assert PACK not in capsys.readouterr().out


def tamper(model: Path) -> None:
    with model.open("ab") as fh:
        fh.write(b"\0")


def unloadable(model: Path) -> None:
    """Not ONNX at all, but its card's sha256 matches: the check passes and the load fails."""
    model.write_bytes(b"not an onnx model\n" * 64)
    card = model.with_name(model.name + ".json")
    data = json.loads(card.read_text())
    data["sha256"] = sha256_of(model)
    card.write_text(json.dumps(data))


@pytest.mark.parametrize("damage", [tamper, unloadable], ids=["tampered", "unloadable"])
def test_a_broken_model_is_one_log_line_and_the_shipped_tier_plays(home, caplog, damage):
    home.install(artist_pack(home.outside, PACK))
    damage(home.packs / PACK / "model" / "jane-S.onnx")
    styles, registry = StyleLibrary(installed=home.packs), TierRegistry()
    with caplog.at_level(logging.WARNING):
        engine, bars = play(styles, registry, PACK, "S", bars=6)
        _, again = play(styles, registry, PACK, "L", bars=2)  # the same load of the pack: no new line
    assert {bar.source for bar in bars} == {"S"} and {bar.source for bar in again} == {"L"}
    assert engine.tier == "S"
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"artist model of pack {PACK} cannot play: ")
    assert "jane-S.onnx" in lines[0] and lines[0].endswith("the shipped tier plays its style")
    assert registry.packs.hashes(styles.packs.values()) == {}  # nothing to record for it
    assert Attribution(styles, registry)(PACK, "S")[1][0].name == "edge-S"


def test_removing_the_pack_makes_its_style_and_model_go(home):
    home.install(artist_pack(home.outside, PACK))
    styles, registry = StyleLibrary(installed=home.packs), TierRegistry()
    play(styles, registry, PACK, "S", bars=1)
    assert registry.packs.loaded == {PACK}
    home.remove(PACK)
    reloaded = StyleLibrary(installed=home.packs)  # what the daemon loads on SIGHUP
    registry.packs.keep(reloaded.names)
    assert PACK not in reloaded.names
    assert registry.packs.loaded == set()
    assert registry.packs.hashes(reloaded.packs.values()) == {}
    # What it played before it went is still credited to its card.
    assert Attribution(reloaded, registry)(PACK, f"S@{PACK}")[1][0].credit == ARTIST
