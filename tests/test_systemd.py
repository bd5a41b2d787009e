"""systemd/edge-music.service and scripts/install-pi.sh.

The unit is checked three ways: its settings against the spec, ``systemd-analyze
verify`` (clean) and ``systemd-analyze security --offline=true`` (exposure <= 2.0).
The systemd-analyze checks need no running systemd and skip, saying why, where the
tool is missing. verify refuses a unit whose ExecStart binary does not exist, so it
runs on a copy whose ExecStart points at a stand-in executable in tmp_path.

The installer is checked with ``--dry-run`` and with a ``DESTDIR`` staging run whose
python, apt-get, useradd, usermod, chgrp and systemctl are stubs, so nothing on the
test machine changes.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tomllib
from collections import defaultdict
from pathlib import Path

import pytest

from edge import config
from edge.hw.sdnotify import Notifier

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "systemd" / "edge-music.service"
INSTALL = ROOT / "scripts" / "install-pi.sh"
EXEC_START = "/opt/edge-music/venv/bin/edge-music"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed here")


def parse_unit(text: str) -> dict[tuple[str, str], list[str]]:
    """(section, key) -> values in order; systemd allows a key more than once."""
    out: dict[tuple[str, str], list[str]] = defaultdict(list)
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out[(section, key.strip())].append(value.strip())
    return out


@pytest.fixture(scope="module")
def unit() -> dict[tuple[str, str], list[str]]:
    return parse_unit(UNIT.read_text())


def one(unit: dict[tuple[str, str], list[str]], key: str, section: str = "Service") -> str:
    values = unit.get((section, key), [])
    assert len(values) == 1, f"[{section}] {key}= should be set exactly once, got {values}"
    return values[0]


# -- the unit's settings ----------------------------------------------------------


def test_service_lifecycle(unit) -> None:
    assert one(unit, "Type") == "notify"
    assert one(unit, "NotifyAccess") == "main"
    assert one(unit, "ExecStart") == f"{EXEC_START} run --config /etc/edge-music/config.toml"
    assert one(unit, "ExecReload") == "/bin/kill -HUP $MAINPID"
    assert one(unit, "KillSignal") == "SIGTERM"
    assert int(one(unit, "TimeoutStopSec")) <= 15
    assert one(unit, "Restart") == "on-failure"
    assert int(one(unit, "RestartSec")) >= 1
    # The start limit belongs in [Unit]; systemd ignores it (with a warning) in [Service].
    assert int(one(unit, "StartLimitIntervalSec", "Unit")) > 0
    assert int(one(unit, "StartLimitBurst", "Unit")) > 0
    assert ("Service", "StartLimitBurst") not in unit
    assert one(unit, "WantedBy", "Install") == "multi-user.target"


def test_exec_start_matches_the_project(unit) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "edge-music" in scripts
    assert one(unit, "ExecStart").split()[0].endswith("/edge-music")
    assert str(config.DEFAULT_PATH) in one(unit, "ExecStart")
    script = INSTALL.read_text()
    assert "PREFIX=/opt/edge-music\n" in script and "VENV=$PREFIX/venv\n" in script


def test_watchdog_matches_the_notifier(unit) -> None:
    watchdog_s = int(one(unit, "WatchdogSec"))
    # What systemd puts in the environment for that setting.
    n = Notifier(environ={"NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": str(watchdog_s * 10**6)})
    interval = n.watchdog_interval()
    assert interval == pytest.approx(watchdog_s / 2)
    # Far above one audio block (~21 ms), so per-block calls are nearly all free.
    assert interval > 100 * 1024 / 48000
    assert int(one(unit, "TimeoutStartSec")) >= 90


def test_dedicated_user_and_writable_directories(unit) -> None:
    assert one(unit, "User") == "edge-music"
    assert one(unit, "Group") == "edge-music"
    assert ("Service", "DynamicUser") not in unit  # a real system user: see docs/install.md
    for key in ("StateDirectory", "RuntimeDirectory", "LogsDirectory"):
        assert one(unit, key) == "edge-music"
    assert one(unit, "WorkingDirectory") == "%S/edge-music"
    env = dict(item.split("=", 1) for value in unit[("Service", "Environment")] for item in value.split())
    assert env["LG_WD"] == "%t/edge-music"  # lgpio's FIFOs in the RuntimeDirectory
    assert env["XDG_CACHE_HOME"] == "%C/edge-music"
    assert env["PYTHONFAULTHANDLER"] == "1"


def test_hardening_matches_raspotify(unit) -> None:
    expected = {
        "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateUsers": "yes",
        "NoNewPrivileges": "yes", "CapabilityBoundingSet": "", "MemoryDenyWriteExecute": "yes",
        "RestrictRealtime": "yes", "LockPersonality": "yes", "UMask": "0077",
        "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes", "ProtectClock": "yes", "ProtectHostname": "yes",
        "RestrictNamespaces": "yes", "RestrictSUIDSGID": "yes", "RemoveIPC": "yes",
        "SystemCallArchitectures": "native", "SystemCallErrorNumber": "EPERM",
        "DevicePolicy": "closed",
    }
    for key, value in expected.items():
        assert one(unit, key) == value, key
    assert unit[("Service", "SystemCallFilter")] == ["@system-service", "~@privileged @resources"]
    families = one(unit, "RestrictAddressFamilies").split()
    assert families[0] != "~" and {"AF_UNIX", "AF_INET", "AF_INET6"} <= set(families)  # AF_UNIX: sd_notify
    assert set(unit[("Service", "DeviceAllow")]) == {"char-alsa rw", "char-gpiochip rw", "/dev/vchiq rw"}


@needs_analyze
def test_security_exposure_is_at_most_2() -> None:
    proc = subprocess.run([ANALYZE, "security", "--offline=true", "--no-pager", str(UNIT)],
                          capture_output=True, text=True, timeout=60)
    if "--offline" in proc.stderr and proc.returncode != 0:
        pytest.skip(f"this systemd-analyze has no --offline (needs systemd 250+): {proc.stderr.strip()}")
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    assert float(match.group(1)) <= 2.0, proc.stdout


@needs_analyze
def test_verify_is_clean(tmp_path: Path) -> None:
    if not Path("/bin/kill").exists():
        pytest.skip("verify also wants ExecReload's /bin/kill, which this machine lacks")
    # A stand-in for the venv's console script: verify checks that ExecStart is executable.
    stand_in = tmp_path / "venv" / "bin" / "edge-music"
    stand_in.parent.mkdir(parents=True)
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    copy = tmp_path / "edge-music.service"
    text = UNIT.read_text()
    assert text.count(EXEC_START) == 1
    copy.write_text(text.replace(EXEC_START, str(stand_in)))
    proc = subprocess.run([ANALYZE, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    # verify exits 0 on unknown keys and bad values too; it only prints them.
    ours = [line for line in (proc.stdout + proc.stderr).splitlines() if "edge-music" in line]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ours == []


# -- scripts/install-pi.sh ----------------------------------------------------------


def run_installer(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(INSTALL), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_installer_is_executable_posix_sh() -> None:
    assert INSTALL.stat().st_mode & stat.S_IXUSR
    assert INSTALL.read_text().startswith("#!/bin/sh\n")
    assert "\nset -eu\n" in INSTALL.read_text()
    proc = subprocess.run(["sh", "-n", str(INSTALL)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed here")
def test_installer_is_shellcheck_clean() -> None:
    proc = subprocess.run(["shellcheck", str(INSTALL)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_installer_help_and_bad_option() -> None:
    proc = run_installer("--help")
    assert proc.returncode == 0 and "--uninstall" in proc.stdout and "--dry-run" in proc.stdout
    assert run_installer("--bogus").returncode == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="runs as root here; the check is for non-root users")
def test_installer_wants_root() -> None:
    proc = run_installer()
    assert proc.returncode == 1 and "run as root" in proc.stderr


def test_dry_run_prints_every_step_and_changes_nothing(tmp_path: Path) -> None:
    proc = run_installer("--dry-run", "--with-mosquitto", env={"DESTDIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for pkg in ("libasound2-dev", "python3-venv", "python3-dev", "gcc", "mosquitto"):
        assert pkg in out  # either to be installed or already there
    assert "useradd --system" in out or "user edge-music exists" in out
    assert f"-m venv --clear {tmp_path}/opt/edge-music/venv" in out
    assert f"-m pip install --disable-pip-version-check --upgrade '{ROOT}[pi]'" in out
    assert f"{tmp_path}/opt/edge-music/venv/bin/edge-music config --example > " \
           f"{tmp_path}/etc/edge-music/config.toml.example" in out
    assert f"install -m 0640 {tmp_path}/etc/edge-music/config.toml.example" in out
    assert f"install -m 0644 {UNIT} {tmp_path}/etc/systemd/system/edge-music.service" in out
    assert "+ systemctl daemon-reload" in out
    assert "edge-music/config.toml credentials --init" in out  # the signing keys, as the service user
    assert "+ systemctl enable --now edge-music.service" in out
    assert list(tmp_path.iterdir()) == []


def test_dry_run_keeps_an_existing_config(tmp_path: Path) -> None:
    conf = tmp_path / "etc" / "edge-music" / "config.toml"
    conf.parent.mkdir(parents=True)
    conf.write_text("[audio]\ndevice = 'hw:1'\n")
    proc = run_installer("--dry-run", env={"DESTDIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert "keeping the existing /etc/edge-music/config.toml" in proc.stdout
    assert "install -m 0640" not in proc.stdout


def test_uninstall_dry_run(tmp_path: Path) -> None:
    proc = run_installer("--uninstall", "--dry-run", env={"DESTDIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "+ systemctl disable --now edge-music.service" in out
    assert f"+ rm -f {tmp_path}/etc/systemd/system/edge-music.service" in out
    assert f"+ rm -rf {tmp_path}/opt/edge-music" in out
    assert "kept /etc/edge-music" in out


STUB_PYTHON = """#!/bin/sh
# Stands in for python3 -m venv: lays out a venv whose python logs pip calls and
# whose edge-music prints a tiny example config.
[ "$1 $2" = "-m venv" ] || exit 99
shift 2
[ "$1" = "--clear" ] && shift
mkdir -p "$1/bin"
cat >"$1/bin/python" <<'EOF'
#!/bin/sh
[ "$1" = "-c" ] && exit 0
echo "$*" >>"$STUB_LOG.pip"
EOF
cat >"$1/bin/edge-music" <<'EOF'
#!/bin/sh
[ "$*" = "config --example" ] || exit 98
echo "# example $EXAMPLE_VERSION"
EOF
chmod +x "$1/bin/python" "$1/bin/edge-music"
"""

STUB_SYSTEM = """#!/bin/sh
# Only queries are allowed to get here; everything else would change the machine.
[ "$(basename "$0") $1" = "systemctl is-active" ] && exit 3
echo "$(basename "$0") $*" >>"$STUB_LOG.system"
"""


def test_destdir_install_upgrade_uninstall(tmp_path: Path) -> None:
    stage, bin_dir, log = tmp_path / "stage", tmp_path / "bin", tmp_path / "log"
    bin_dir.mkdir()
    for name, body in [("python-stub", STUB_PYTHON)] + [
        (tool, STUB_SYSTEM) for tool in ("apt-get", "useradd", "usermod", "chgrp", "systemctl")
    ]:
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    env = {"DESTDIR": str(stage), "PYTHON": str(bin_dir / "python-stub"), "STUB_LOG": str(log),
           "PATH": f"{bin_dir}:{os.environ['PATH']}", "EXAMPLE_VERSION": "1"}

    first = run_installer(env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    conf = stage / "etc/edge-music/config.toml"
    assert conf.read_text() == "# example 1\n"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640
    assert stat.S_IMODE(conf.parent.stat().st_mode) == 0o750
    unit = stage / "etc/systemd/system/edge-music.service"
    assert unit.read_text() == UNIT.read_text()
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644
    assert "# not run: DESTDIR is set" in first.stdout
    assert not Path(f"{log}.system").exists(), Path(f"{log}.system").read_text()
    pip_call = f"-m pip install --disable-pip-version-check --upgrade {ROOT}[pi]\n"
    assert Path(f"{log}.pip").read_text() == pip_call

    # Upgrade: the venv is reused, the user's config survives, the example is refreshed.
    conf.write_text("# mine\n")
    env["EXAMPLE_VERSION"] = "2"
    second = run_installer(env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "reusing /opt/edge-music/venv" in second.stdout
    assert "-m venv" not in second.stdout
    assert conf.read_text() == "# mine\n"
    assert (stage / "etc/edge-music/config.toml.example").read_text() == "# example 2\n"
    assert not list(conf.parent.glob(".config.*"))  # no temp file left behind

    gone = run_installer("--uninstall", env=env)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert not unit.exists()
    assert not (stage / "opt/edge-music").exists()
    assert conf.read_text() == "# mine\n"
    assert "kept /etc/edge-music" in gone.stdout
    assert not Path(f"{log}.system").exists()


def test_failing_config_example_stops_the_install(tmp_path: Path) -> None:
    stage, bin_dir = tmp_path / "stage", tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python-stub").write_text(STUB_PYTHON)
    (bin_dir / "python-stub").chmod(0o755)
    env = {"DESTDIR": str(stage), "PYTHON": str(bin_dir / "python-stub"), "STUB_LOG": str(tmp_path / "log"),
           "EXAMPLE_VERSION": "1"}
    run_installer(env=env)  # lays out the venv
    (stage / "opt/edge-music/venv/bin/edge-music").write_text("#!/bin/sh\nexit 1\n")
    (stage / "etc/edge-music/config.toml").unlink()
    proc = run_installer(env=env)
    assert proc.returncode == 1
    assert "config --example' failed" in proc.stderr
    assert not (stage / "etc/edge-music/config.toml").exists()
    assert not list((stage / "etc/edge-music").glob(".config.*"))
