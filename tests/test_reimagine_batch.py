"""reimagine --batch: every file of a folder in a stable order, paced by the SoC temperature."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import Config, ThermalConfig
from edge.reimagine.batch import batch_command
from edge.reimagine.pacing import GO, PAUSE, POLL_S, SLOW, Pacer, decide
from edge.thermal.sensors import Sensors

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import analysis_pieces as pieces  # noqa: E402


def thermal(tmp_path: Path, celsius: float) -> tuple[ThermalConfig, Path]:
    """A sysfs-like thermal zone (as the governor's tests use) holding ``celsius``."""
    zone = tmp_path / "thermal" / "thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "type").write_text("cpu-thermal\n")
    (zone / "temp").write_text(f"{round(celsius * 1000)}\n")
    config = ThermalConfig(
        thermal_root=str(tmp_path / "thermal"), hwmon_root=str(tmp_path / "hwmon"),
        model_path=str(tmp_path / "model"), vcgencmd="", temp_target_c=70.0, hysteresis_c=1.5,
    )  # fmt: skip
    return config, zone / "temp"


class Board:
    """The zone file, and a sleep that lets it cool along a given path (no real waiting)."""

    def __init__(self, temp: Path, cooling: list[float]) -> None:
        self.temp, self.cooling, self.slept = temp, list(cooling), []

    def set(self, celsius: float) -> None:
        self.temp.write_text(f"{round(celsius * 1000)}\n")

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.cooling:
            self.set(self.cooling.pop(0))


def pacer_for(config: ThermalConfig, board: Board, clock=lambda: 0.0) -> Pacer:
    sensors = Sensors(config, use_psutil_temperature=False, cpu_percent=lambda: None, cpu_freq=lambda: None)
    return Pacer(config, sensors=sensors, sleep=board.sleep, clock=clock)


def test_decisions_follow_the_thermal_target_and_hysteresis() -> None:
    assert decide(None, 70.0, 1.5) == GO  # no sensor: never wait
    assert decide(68.4, 70.0, 1.5) == GO
    assert decide(68.5, 70.0, 1.5) == SLOW
    assert decide(69.9, 70.0, 1.5) == SLOW
    assert decide(70.0, 70.0, 1.5) == PAUSE


def test_a_hot_board_pauses_until_it_has_cooled_then_resumes(tmp_path: Path) -> None:
    config, temp = thermal(tmp_path, 74.0)
    board = Board(temp, cooling=[72.0, 69.0, 68.0])
    pacer = pacer_for(config, board)
    assert pacer.check() == PAUSE
    # Still above 68.5 C at 72 and 69: it reads again; at 68 it resumes.
    assert board.slept == [POLL_S] * 3
    (pause,) = pacer.pauses
    assert (pause.celsius, pause.resumed_at_c, pause.seconds) == (74.0, 68.0, 3 * POLL_S)
    assert pacer.check() == GO and board.slept == [POLL_S] * 3  # cool: no more waiting


def test_a_warm_board_slows_to_half_duty(tmp_path: Path) -> None:
    config, temp = thermal(tmp_path, 69.0)
    board = Board(temp, cooling=[])
    cpu = iter([0.0, 2.5, 2.5, 2.5])  # the work between two checks took 2.5 CPU-s
    pacer = pacer_for(config, board, clock=lambda: next(cpu))
    assert pacer.check() == SLOW
    assert board.slept == [2.5]


def write_song(folder: Path, name: str, tonic: int) -> Path:
    path = folder / name
    pieces.piece(tonic, "major", "song", ((0, 120.0),), midi_type=1).save(str(path))
    return path


def batch_args(folder: Path, **flags) -> argparse.Namespace:
    values = dict(
        file=None, batch=str(folder), out=None, midi=None, style="focus", mood=None, energy=None, tempo=None,
        keep_chords=False, reharmonize=False, transpose=0, seed=7, tier="0",
    )  # fmt: skip
    values.update(flags)
    return argparse.Namespace(**values)


def test_a_batch_goes_in_name_order_pausing_between_files_while_hot(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name, tonic in (("b.mid", 2), ("a.mid", 0), ("c.mid", 4)):
        write_song(folder, name, tonic)
    (folder / "notes.txt").write_text("not a track")
    config, temp = thermal(tmp_path, 60.0)
    board = Board(temp, cooling=[69.0, 66.0])
    pacer = pacer_for(config, board)
    checked: list[float] = []
    original = pacer.check

    def check() -> str:  # the board reaches 71 C during the first file
        checked.append(pacer.temperature())
        if len(checked) == 2:
            board.set(71.0)
        return original()

    pacer.check = check  # type: ignore[method-assign]
    code = batch_command(batch_args(folder, midi=str(tmp_path / "mid")), Config(thermal=config), pacer)
    err = capsys.readouterr().err.splitlines()
    assert code == 0
    names = ("a.mid", "b.mid", "c.mid", "notes.txt")
    assert [line.split()[2].rstrip(":") for line in err[:4]] == [str(folder / n) for n in names]
    assert [line.split()[1] for line in err[:4]] == ["done", "done", "done", "ignored"]
    assert err[-1] == "edge-music: batch: 3 of 3 tracks done, 0 skipped"
    assert sorted(p.name for p in (tmp_path / "mid").iterdir()) == ["a.mid", "b.mid", "c.mid"]
    assert [p.decision for p in pacer.pauses] == [PAUSE]  # hot once: paused, cooled, resumed
    assert pacer.pauses[0].celsius == 71.0 and pacer.pauses[0].resumed_at_c == 66.0
    assert board.slept == [POLL_S, POLL_S]


def test_a_file_that_cannot_be_reimagined_is_skipped_and_the_batch_exits_1(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    write_song(folder, "good.mid", 0)
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00")
    (folder / "tune.abc").write_text("X:1\nT:t\nM:3/4\nL:1/8\nQ:1/4=100\nK:G\nG2 B2 d2|c2 A2 F2|G6|]\n")
    config_file = tmp_path / "edge.toml"
    zone = tmp_path / "thermal" / "thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "type").write_text("cpu-thermal\n")
    (zone / "temp").write_text("45000\n")
    config_file.write_text(
        f'[thermal]\nthermal_root = "{tmp_path / "thermal"}"\nvcgencmd = ""\n[credentials]\nenabled = false\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "edge", "reimagine", "--config", str(config_file), "--batch", str(folder),
         "--midi", str(tmp_path / "mid"), "--out", str(tmp_path / "wav"), "--style", "focus", "--tier", "0",
         "--seed", "1"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == f"edge-music: skipped {folder / 'broken.mid'}: corrupt MIDI: the header is cut short"
    assert lines[1].startswith(f"edge-music: done {folder / 'good.mid'} as focus")
    assert lines[2].startswith(f"edge-music: done {folder / 'tune.abc'} as focus (3 bars")  # ABC too
    assert lines[3] == "edge-music: batch: 2 of 3 tracks done, 1 skipped"
    assert sorted(p.name for p in (tmp_path / "mid").iterdir()) == ["good.mid", "tune.mid"]
    assert sorted(p.name for p in (tmp_path / "wav").iterdir()) == ["good.wav", "tune.wav"]


@pytest.mark.parametrize(
    ("flags", "problem"),
    [
        ({"batch": "missing"}, "--batch missing: not a folder"),
        ({"out": None, "midi": None}, "needs --out OUTDIR"),
        ({"file": "x.mid"}, "not both"),
        ({"out": "."}, "also an output folder"),
    ],
)
def test_a_wrong_batch_is_refused_in_one_line_and_writes_nothing(tmp_path: Path, monkeypatch, flags, problem):
    from edge.exits import UsageError

    monkeypatch.chdir(tmp_path)
    write_song(tmp_path, "a.mid", 0)
    values = {"batch": ".", "out": "out", **flags}
    with pytest.raises(UsageError, match=problem):
        batch_command(batch_args(tmp_path, **values), Config())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mid"]


def test_reimagine_without_a_file_or_a_batch_says_so_in_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    from edge.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["reimagine", "--style", "focus", "--out", "new.wav"]) == 2
    err = capsys.readouterr().err
    assert err == "edge-music: error: reimagine needs a FILE (or --batch DIR --out OUTDIR)\n"
    assert list(tmp_path.iterdir()) == []
