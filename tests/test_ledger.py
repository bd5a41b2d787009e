"""The attribution ledger: real SQLite files, real model cards and style packs, a real killed process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from edge.cli import main
from edge.generator.registry import TierRegistry
from edge.ledger.contributors import Attribution, Contributor, credit_line
from edge.ledger.recorder import Recorder, local_day
from edge.ledger.report import split
from edge.ledger.store import LedgerError, Store
from edge.music.style import STYLES_DIR, StyleLibrary

ROOT = Path(__file__).resolve().parent.parent
STYLE = Contributor("style", "focus", "edge-music", "MIT")
SOURCE = Contributor("source", "bach", "bach", "public domain")
SHARES = ((STYLE, 1.0), (SOURCE, 0.25))


def shipped_attribution() -> Attribution:
    return Attribution(StyleLibrary(), TierRegistry())


def credited(summary: dict, kind: str) -> dict[str, float]:
    return {e["name"]: e["seconds"] for e in summary["contributors"] if e["kind"] == kind}


def test_a_neural_second_credits_the_pack_the_model_and_each_source_by_its_share(tmp_path):
    shares = shipped_attribution()("focus", "tierS")
    recorder = Recorder(tmp_path / "ledger.db")
    recorder.played(shares, 100.0)
    assert recorder.flush()
    recorder.stop()
    with Store(tmp_path / "ledger.db", readonly=True) as store:
        summary = split(store)
    assert summary["seconds"] == 100.0
    assert credited(summary, "style") == {"focus": 100.0}
    assert credited(summary, "model") == {"edge-S": 100.0}
    card = json.loads((ROOT / "models" / "edge-S.onnx.json").read_text())
    sources = credited(summary, "source")
    # Every collection of the card, weighted by the share it records (rounded to 4 places there).
    assert set(sources) == {c["name"] for c in card["collections"]}
    for collection in card["collections"]:
        assert sources[collection["name"]] == pytest.approx(100 * collection["share"], abs=0.01)
    assert sum(sources.values()) == pytest.approx(100.0, abs=0.01)
    assert summary["top"]["name"] == max(card["collections"], key=lambda c: c["share"])["name"]


def test_tier_zero_credits_the_procedural_generator_and_no_sources(tmp_path):
    shares = shipped_attribution()("ambient", "tier0")
    assert [(c.kind, c.name, c.credit) for c, _ in shares] == [
        ("style", "ambient", "edge-music"),
        ("model", "procedural", "edge-music"),
    ]
    assert credit_line(shares).startswith("AI-generated music by edge-music")


def unattributed_pack(folder: Path) -> Path:
    folder.mkdir()
    text = (STYLES_DIR / "focus.toml").read_text()
    lines = [ln for ln in text.splitlines() if not ln.startswith(("author", "licence"))]
    (folder / "focus.toml").write_text("\n".join(lines) + "\n")
    return folder


def models_with_card(folder: Path, **card_changes) -> Path:
    """The shipped S model in a folder of its own, its card changed as given."""
    folder.mkdir()
    shutil.copy(ROOT / "models" / "edge-S.onnx", folder)
    card = json.loads((ROOT / "models" / "edge-S.onnx.json").read_text())
    card.update(card_changes)
    card = {k: v for k, v in card.items() if v is not None}
    (folder / "edge-S.onnx.json").write_text(json.dumps(card))
    manifest = json.loads((ROOT / "models" / "manifest.json").read_text())
    manifest["models"] = [m for m in manifest["models"] if m["tier"] == "S"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_a_pack_and_a_model_without_author_or_terms_show_as_unattributed_never_dropped(tmp_path):
    styles = unattributed_pack(tmp_path / "styles")
    models = models_with_card(tmp_path / "models", author=None, collections=[])
    shares = Attribution(StyleLibrary(styles), TierRegistry(models))("focus", "tierS")
    recorder = Recorder(tmp_path / "ledger.db")
    recorder.played(shares, 10.0)
    recorder.stop()
    with Store(tmp_path / "ledger.db", readonly=True) as store:
        rows = {(r.contributor.kind, r.contributor.name): r for r in store.rows()}
    assert rows[("style", "focus")].contributor.credit == "unattributed"
    assert rows[("style", "focus")].contributor.terms == "unattributed"
    assert rows[("model", "edge-S")].contributor.credit == "unattributed"
    assert rows[("source", "unknown")].contributor.credit == "unattributed"
    assert all(r.ms == 10_000 for r in rows.values())


def test_an_artist_model_is_credited_to_its_artist(tmp_path, capsys):
    collection = {"name": "my-songs", "kind": "midi", "artist": "Jane Doe", "licence": "all rights mine",
                  "consent": "I agree", "terms_checked": "I wrote them", "share": 1.0}  # fmt: skip
    models = models_with_card(tmp_path / "models", author="Jane Doe", collections=[collection])
    shares = Attribution(StyleLibrary(), TierRegistry(models))("focus", "tierS")
    recorder = Recorder(tmp_path / "ledger.db")
    recorder.played(shares, 60.0)
    recorder.stop()
    config = tmp_path / "config.toml"
    config.write_text(f'[ledger]\npath = "{tmp_path / "ledger.db"}"\n[generator]\nmodels_dir = "{models}"\n')
    assert main(["credits", "--config", str(config), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["top"] == {"kind": "source", "name": "my-songs", "credit": "Jane Doe", "seconds": 60.0,
                              "share": 1.0}  # fmt: skip
    assert main(["about", "--config", str(config)]) == 0
    about = capsys.readouterr().out
    assert "AI-generated" in about
    assert "my-songs: 100.0 % of the training data, credited to Jane Doe" in about
    assert "all rights mine" in about


def test_about_names_every_source_with_its_share_and_terms(tmp_path, capsys):
    assert main(["about", "--json"]) == 0
    about = json.loads(capsys.readouterr().out)
    assert about["ai_generated"] is True
    for model in about["models"]:
        card = json.loads((ROOT / "models" / model["card_file"]).read_text())
        assert [c["name"] for c in model["collections"]] == [c["name"] for c in card["collections"]]
        for collection in model["collections"]:
            assert collection["licence"] and collection["consent"] and collection["terms_checked"]
            assert 0 < collection["share"] <= 1
    assert {s["name"] for s in about["styles"]} == {p.stem for p in STYLES_DIR.glob("*.toml")}


def test_credits_since_a_day_and_its_errors(tmp_path, capsys):
    path = tmp_path / "ledger.db"
    with Store(path) as store:
        store.add({"2026-01-01": {STYLE: 1000}, "2026-02-01": {STYLE: 2000, SOURCE: 500}})
    config = tmp_path / "config.toml"
    config.write_text(f'[ledger]\npath = "{path}"\n')
    assert main(["credits", "--config", str(config), "--since", "2026-01-15", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["seconds"] == 2.0 and summary["since"] == "2026-02-01"
    assert credited(summary, "source") == {"bach": 0.5}
    assert main(["credits", "--config", str(config)]) == 0
    text = capsys.readouterr().out
    assert "3 s of music, 2026-01-01 to 2026-02-01" in text and "focus" in text
    # A bad date: exit 2, one line naming the flag.
    assert main(["credits", "--config", str(config), "--since", "last week"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--since 'last week'" in err
    # Not a database: exit 1, one line naming the file, no traceback.
    path.unlink()
    path.write_text("not a database\n" * 100)
    assert main(["credits", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err
    # Nothing recorded yet: says so, exit 0, creates nothing.
    config.write_text(f'[ledger]\npath = "{tmp_path / "none.db"}"\n')
    assert main(["credits", "--config", str(config)]) == 0
    assert "Nothing played" in capsys.readouterr().out
    assert not (tmp_path / "none.db").exists()


def test_a_batch_that_cannot_be_written_is_kept_and_written_later(tmp_path, caplog):
    blocker = tmp_path / "state"
    blocker.write_text("a file where the ledger's folder should be")
    recorder = Recorder(blocker / "ledger.db")
    recorder.played(SHARES, 5.0)
    assert not recorder.flush()
    recorder.played(SHARES, 5.0)
    assert not recorder.flush()
    assert sum("ledger" in r.getMessage() for r in caplog.records) == 1  # one line, not one per try
    blocker.unlink()
    assert recorder.flush()
    recorder.stop()
    with Store(blocker / "ledger.db", readonly=True) as store:
        assert store.music_ms() == 10_000
        assert {r.contributor.name: r.ms for r in store.rows()} == {"focus": 10_000, "bach": 2_500}


def test_days_are_local_dates_and_fractions_of_a_millisecond_carry_over(tmp_path):
    clock = [1_780_000_000.0]
    recorder = Recorder(tmp_path / "ledger.db", clock=lambda: clock[0])
    for _ in range(200):
        recorder.played(SHARES, 0.0213337)
        recorder.flush()
    clock[0] += 86_400
    recorder.played(SHARES, 1.0)
    recorder.stop()
    with Store(tmp_path / "ledger.db", readonly=True) as store:
        days = store.days()
    assert [d for d, _, _ in days] == [local_day(1_780_000_000.0), local_day(1_780_086_400.0)]
    assert days[0][1] == 4_266  # 200 x 21.3337 ms: the fractions carry from batch to batch (not 200 x 21)
    assert days[1][1] == 1_000


CHILD = """
import sys, time
from edge.ledger.contributors import Contributor
from edge.ledger.recorder import Recorder
style = Contributor("style", "focus", "edge-music", "MIT")
source = Contributor("source", "bach", "bach", "public domain")
recorder = Recorder(sys.argv[1], flush_seconds=0.005)
recorder.start()
seen = (0, 0)
while True:
    recorder.played(((style, 1.0), (source, 0.25)), 0.1)
    if recorder.committed != seen:
        seen = recorder.committed
        print(*seen, flush=True)
    time.sleep(0.0005)
"""


def test_a_killed_recorder_loses_at_most_the_batch_it_was_writing(tmp_path):
    path = tmp_path / "ledger.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", CHILD, str(path)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        reported = (0, 0)
        assert child.stdout is not None
        for line in child.stdout:
            reported = tuple(int(x) for x in line.split())
            if reported[0] >= 40:
                break
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(10)
    assert reported[0] >= 40, "the child never committed"
    with Store(path) as store:  # as the daemon reopens it after a crash
        assert store.integrity() == "ok"
        days = store.days()
        rows = store.rows()
    batches = sum(b for _, _, b in days)
    music = sum(ms for _, ms, _ in days)
    # Every batch the process saw committed is there ...
    assert batches >= reported[0] and music >= reported[1]
    # ... and only whole batches: the style's time equals the days' music time, transaction by transaction.
    assert sum(r.ms for r in rows if r.contributor.kind == "style") == music


@pytest.mark.parametrize("damage", ["truncated", "garbled"])
def test_a_torn_write_at_the_end_of_the_wal_loses_only_the_last_batch(tmp_path, damage):
    live = tmp_path / "live"
    store = Store(live / "ledger.db")
    totals = []
    for i in range(6):
        store.add({"2026-03-01": {STYLE: 1000 * (i + 1), SOURCE: 250 * (i + 1)}})
        totals.append(store.music_ms())
    # What the disk holds after a power cut: the database and its WAL (not yet checkpointed).
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    shutil.copy(live / "ledger.db", crashed / "ledger.db")
    shutil.copy(live / "ledger.db-wal", crashed / "ledger.db-wal")
    store.close()
    wal = crashed / "ledger.db-wal"
    size = wal.stat().st_size
    if damage == "truncated":
        os.truncate(wal, size - 100)
    else:
        with wal.open("r+b") as fh:
            fh.seek(size - 100)
            fh.write(b"\xa5" * 100)
    with Store(crashed / "ledger.db") as reopened:
        assert reopened.integrity() == "ok"
        assert reopened.music_ms() == totals[-2]
        assert reopened.days() == [("2026-03-01", totals[-2], 5)]
        reopened.add({"2026-03-01": {STYLE: 1}})  # and it takes new batches
        assert reopened.music_ms() == totals[-2] + 1


def test_a_file_that_is_not_a_ledger_is_refused_in_one_line(tmp_path):
    path = tmp_path / "ledger.db"
    path.write_bytes(b"\x00garbage" * 500)
    with pytest.raises(LedgerError) as caught:
        Store(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_source_may_name_its_artist_and_the_card_records_each_share():
    from edge.training.dataset import source_shares
    from edge.training.export import card_collections
    from edge.training.sources import ManifestError, parse_manifest

    entry = {"name": "mine", "kind": "midi", "path": "midi", "tag": "user", "licence": "mine",
             "consent": "I agree", "terms_checked": "I wrote them"}  # fmt: skip
    plain, artist = parse_manifest({"source": [entry, {**entry, "name": "hers", "artist": " Jane Doe "}]},
                                   check_paths=False)  # fmt: skip
    assert "artist" not in plain.record() and artist.record()["artist"] == "Jane Doe"
    with pytest.raises(ManifestError, match="'artist'"):
        parse_manifest({"source": [{**entry, "artist": "two\nlines"}]}, check_paths=False)
    shares = source_shares({"mine": 300, "hers": 100})
    assert shares["mine"] == {"train_tokens": 300, "share": 0.75}
    assert shares["hers"] == {"train_tokens": 100, "share": 0.25}
    collections = card_collections([plain.record(), artist.record()], shares)
    assert [(c["name"], c.get("artist"), c["share"]) for c in collections] == [
        ("mine", None, 0.75),
        ("hers", "Jane Doe", 0.25),
    ]


def test_an_installed_pack_is_credited_to_its_own_author(tmp_path):
    from tests.pack_helpers import make_pack

    make_pack(tmp_path / "packs", "lofi-garden", author="Ada Example", licence="CC-BY-4.0")
    library = StyleLibrary(installed=tmp_path / "packs")
    style, *_ = Attribution(library, TierRegistry())("lofi-garden", "tier0")
    assert style == (Contributor("style", "lofi-garden", "Ada Example", "CC-BY-4.0"), 1.0)
