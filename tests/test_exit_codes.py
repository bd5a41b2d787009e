"""Exit codes a script can believe: real `edge-music` processes, one error line, no traceback.

0 = done; 1 = an output failed while being written (or doctor found a FAIL);
2 = bad input found before any work (flag, config, output path): nothing created;
141 = the reader of standard output went away.
"""

import os
import resource
import signal
import subprocess
import sys
import wave

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
HAS_DEV_FULL = os.path.exists("/dev/full") and os.access("/dev/full", os.W_OK)
# Keep the machine's own config and environment out of the way; MQTT off so doctor never waits.
ENV = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_MUSIC_")}
ENV["EDGE_MUSIC_MQTT_ENABLED"] = "false"


def edge_music(cwd, *args, stdout=subprocess.PIPE, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "edge", *args], stdout=stdout, stderr=subprocess.PIPE, text=True,
        cwd=cwd, timeout=60, env={**ENV, "PYTHONPATH": ROOT}, **kwargs,
    )  # fmt: skip


def assert_one_error_line(result, code, *fragments):
    """Exit ``code``; stderr is exactly one line holding every fragment (the path and the reason)."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.endswith("\n") and result.stderr.count("\n") == 1, result.stderr
    for fragment in fragments:
        assert str(fragment) in result.stderr, (fragment, result.stderr)


def listing(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


# -- render: output paths that cannot be written are refused before any work (exit 2) ------


@pytest.mark.parametrize(
    ("flag", "target", "reason"),
    [
        ("--out", "missing/x.wav", "No such file or directory"),
        ("--midi", "missing/x.mid", "No such file or directory"),
        ("--out", "folder", "Is a directory"),
        ("--midi", "folder", "Is a directory"),
        ("--out", "folder/", "Is a directory"),
        ("--out", "plain.txt/x.wav", "Not a directory"),
        ("--midi", "plain.txt/x.mid", "Not a directory"),
    ],
)
def test_render_refuses_an_unwritable_output_up_front(tmp_path, flag, target, reason):
    (tmp_path / "folder").mkdir()
    (tmp_path / "plain.txt").write_text("x")
    before = listing(tmp_path)
    result = edge_music(tmp_path, "render", "--seconds", "1", flag, target)
    assert_one_error_line(result, 2, f"cannot write {target}: {reason}")
    assert listing(tmp_path) == before  # nothing created, no partial file


def test_render_refuses_an_absolute_path_in_a_missing_folder(tmp_path):
    target = tmp_path / "nonexistent-dir" / "x.wav"
    result = edge_music(tmp_path, "render", "--seconds", "2", "--out", str(target))
    assert_one_error_line(result, 2, f"cannot write {target}: No such file or directory")
    assert "rendered" not in result.stderr
    assert listing(tmp_path) == []


def test_a_bad_midi_path_keeps_the_wav_from_being_created(tmp_path):
    result = edge_music(tmp_path, "render", "--seconds", "1", "--out", "ok.wav", "--midi", "missing/x.mid")
    assert_one_error_line(result, 2, "missing/x.mid", "No such file or directory")
    assert listing(tmp_path) == []


@pytest.mark.skipif(AS_ROOT, reason="root may write anywhere")
def test_render_refuses_a_folder_without_write_permission(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = edge_music(tmp_path, "render", "--seconds", "1", "--out", "locked/x.wav")
    finally:
        locked.chmod(0o755)
    assert_one_error_line(result, 2, "cannot write locked/x.wav: Permission denied")
    assert listing(tmp_path) == ["locked"]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--out", "same.wav", "--midi", "./same.wav"], ["--out and --midi both name same.wav"]),
        (["--seconds", "30000", "--out", "long.wav"], ["--seconds 30000", "4 GiB"]),
    ],
)
def test_render_refuses_outputs_that_cannot_hold_the_result(tmp_path, args, fragments):
    result = edge_music(tmp_path, "render", *args)
    assert_one_error_line(result, 2, *fragments)
    assert listing(tmp_path) == []


# -- render: a write that fails while rendering stops it (exit 1) ---------------------------


@pytest.mark.skipif(not HAS_DEV_FULL, reason="needs a writable /dev/full")
@pytest.mark.parametrize("flag", ["--out", "--midi"])
def test_render_to_a_full_disk_fails_with_one_line(tmp_path, flag):
    result = edge_music(tmp_path, "render", "--seconds", "1", "--seed", "1", flag, "/dev/full")
    assert_one_error_line(result, 1, "cannot write /dev/full: No space left on device")
    assert "rendered" not in result.stderr


def _small_file_limit():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))


def test_a_write_that_fails_mid_render_stops_it(tmp_path):
    result = edge_music(
        tmp_path, "render", "--seconds", "2", "--seed", "1", "--out", "x.wav", "--midi", "x.mid",
        preexec_fn=_small_file_limit,
    )  # fmt: skip
    assert_one_error_line(result, 1, f"cannot write {tmp_path / 'x.wav'}: File too large")
    assert not (tmp_path / "x.mid").exists()  # stopped at the failure
    with wave.open(str(tmp_path / "x.wav")) as wav:  # what did land is a readable WAV
        assert 0 < wav.getnframes() < 2 * 48000


def test_a_good_render_still_exits_0(tmp_path):
    result = edge_music(
        tmp_path, "render", "--seconds", "1", "--seed", "1", "--out", "x.wav", "--midi", "x.mid"
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("\n") == 1 and "rendered 1 s" in result.stderr
    assert listing(tmp_path) == ["x.mid", "x.wav"]


# -- every subcommand: a config that cannot be used is one line and exit 2 ------------------

COMMANDS = {
    "config": ["config"],
    "render": ["render", "--seconds", "1", "--out", "never.wav"],
    "doctor": ["doctor"],
    "run": ["run"],
}


def _config_case(tmp_path, case):
    """(path as given to --config, what the message must say)."""
    if case == "missing":
        return str(tmp_path / "missing.toml"), "file not found"
    if case == "directory":
        (tmp_path / "conf.d").mkdir()
        return str(tmp_path / "conf.d"), "is a directory"
    if case == "not-utf8":
        (tmp_path / "latin1.toml").write_bytes(b'[music]\nstyle = "caf\xe9"\n')
        return str(tmp_path / "latin1.toml"), "not UTF-8 text"
    if case == "malformed":
        (tmp_path / "broken.toml").write_text("[music\nstyle = \n")
        return str(tmp_path / "broken.toml"), "invalid TOML"
    if case == "bad-value":
        (tmp_path / "bad.toml").write_text("[audio]\nchannels = 7\n")
        return str(tmp_path / "bad.toml"), "audio.channels"
    if case == "through-a-file":
        (tmp_path / "plain.txt").write_text("x")
        return str(tmp_path / "plain.txt" / "config.toml"), "Not a directory"
    raise AssertionError(case)


CONFIG_CASES = [
    *(
        (case, "before")
        for case in ("missing", "directory", "not-utf8", "malformed", "bad-value", "through-a-file")
    ),
    ("missing", "after"),  # `edge-music COMMAND --config PATH`: the same code path, two cases suffice
    ("malformed", "after"),
]


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize(("case", "where"), CONFIG_CASES)
def test_a_bad_config_is_one_line_and_exit_2_for_every_command(tmp_path, command, case, where):
    path, reason = _config_case(tmp_path, case)
    args = COMMANDS[command]
    argv = ["--config", path, *args] if where == "before" else [*args, "--config", path]
    result = edge_music(tmp_path, *argv)
    assert_one_error_line(result, 2, path, reason)
    assert result.stdout == ""
    assert not (tmp_path / "never.wav").exists()


@pytest.mark.skipif(AS_ROOT, reason="root reads files of mode 000")
def test_an_unreadable_config_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "secret.toml"
    path.write_text("[music]\n")
    path.chmod(0)
    result = edge_music(tmp_path, "--config", str(path), "config")
    assert_one_error_line(result, 2, path, "permission denied")


# -- standard output that cannot be written --------------------------------------------------


@pytest.mark.skipif(not HAS_DEV_FULL, reason="needs a writable /dev/full")
@pytest.mark.parametrize("args", [["config"], ["config", "--example"], ["doctor"]])
def test_a_full_stdout_is_one_line_and_exit_1(tmp_path, args):
    with open("/dev/full", "w") as full:
        result = edge_music(tmp_path, *args, stdout=full)
    assert_one_error_line(result, 1, "cannot write standard output: No space left on device")


def test_a_closed_pipe_on_stdout_exits_141_quietly(tmp_path):
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = edge_music(tmp_path, "config", "--example", stdout=write_end)
    finally:
        os.close(write_end)
    assert result.returncode == 141 and result.stderr == ""
