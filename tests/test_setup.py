"""The set-up a newcomer runs: scripts/install-deps.sh and the Makefile targets."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "install-deps.sh"


def as_nobody(*args, env=None):
    runuser = shutil.which("runuser")
    if os.geteuid() != 0 or runuser is None:
        pytest.skip("needs root to switch to an unprivileged user")
    return subprocess.run(
        [runuser, "-u", "nobody", "--", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_non_root_without_packages_prints_the_exact_apt_line():
    # A copy the unprivileged user can read wherever the checkout lives (e.g. under /root).
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "install-deps.sh"
        shutil.copy(SCRIPT, script)
        Path(folder).chmod(0o755)
        script.chmod(0o755)
        env = {**os.environ, "EDGE_MUSIC_APT_EXTRA": "edge-music-no-such-package"}
        result = as_nobody("sh", str(script), "run", env=env)
    assert result.returncode == 1
    assert "sudo apt-get install -y --no-install-recommends edge-music-no-such-package" in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_nothing_missing_is_quiet_and_succeeds():
    result = subprocess.run(["sh", str(SCRIPT), "test"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert result.stdout == "" and result.stderr == ""


def test_unknown_purpose_is_a_usage_error():
    result = subprocess.run(["sh", str(SCRIPT), "party"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "usage" in result.stderr


def test_make_targets_are_idempotent_and_quick_the_second_time():
    # Dry run: with everything installed, make has nothing left to rebuild for the venv.
    stamps = [".venv/.edge-installed", ".venv/.edge-dev-installed"]
    command = ["make", "-n", "-C", str(ROOT), *stamps]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert "pip install" not in result.stdout
