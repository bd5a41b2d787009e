"""edge.hw.sdnotify: datagrams received on a socket of our own, path and abstract forms."""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.hw import sdnotify
from edge.hw.sdnotify import Notifier, status_text


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _receive_all(sock: socket.socket) -> list[str]:
    """Every datagram waiting on sock, decoded."""
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


@pytest.fixture
def path_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound SOCK_DGRAM socket and the NOTIFY_SOCKET value naming it by path."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    yield sock, str(path)
    sock.close()


@pytest.fixture
def abstract_socket() -> Iterator[tuple[socket.socket, str]]:
    """A bound SOCK_DGRAM socket in the abstract namespace and its @name."""
    name = f"edge-music-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.setblocking(False)
    yield sock, "@" + name
    sock.close()


def test_everything_is_a_no_op_without_notify_socket() -> None:
    n = Notifier(environ={"WATCHDOG_USEC": "1000000"})
    assert not n.enabled
    assert n.watchdog_interval() is None
    for call in (n.ready, n.stopping, n.reloading, n.watchdog):
        call()
    n.status("hello")


def test_default_environ_is_os_environ(monkeypatch: pytest.MonkeyPatch, path_socket) -> None:
    sock, address = path_socket
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    n = Notifier()
    assert n.enabled
    n.ready()
    assert _receive_all(sock) == ["READY=1"]


@pytest.mark.parametrize("fixture", ["path_socket", "abstract_socket"])
def test_messages_arrive(fixture: str, request: pytest.FixtureRequest) -> None:
    sock, address = request.getfixturevalue(fixture)
    n = Notifier(environ={"NOTIFY_SOCKET": address})
    assert n.enabled
    n.ready()
    n.status("Playing ambient, tier S, SoC 51.0 °C")
    n.reloading()
    n.stopping()
    got = _receive_all(sock)
    assert got[0] == "READY=1"
    assert got[1] == "STATUS=Playing ambient, tier S, SoC 51.0 °C"
    assert got[3] == "STOPPING=1"
    fields = dict(line.split("=", 1) for line in got[2].splitlines())
    assert fields["RELOADING"] == "1"
    # MONOTONIC_USEC is CLOCK_MONOTONIC, which is what systemd compares it against.
    now_us = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert 0 <= now_us - int(fields["MONOTONIC_USEC"]) < 5_000_000


def test_status_stays_one_field(path_socket) -> None:
    sock, address = path_socket
    Notifier(environ={"NOTIFY_SOCKET": address}).status("line one\nREADY=1\r\nline three")
    assert _receive_all(sock) == ["STATUS=line one READY=1 line three"]


def test_status_text() -> None:
    assert status_text("ambient", "S", 54.23) == "Playing ambient, tier S, SoC 54.2 °C"
    assert status_text("lofi", "0", None) == "Playing lofi, tier 0, temperature n/a"


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    env = {"NOTIFY_SOCKET": "/run/nowhere", "WATCHDOG_USEC": "30000000"}
    assert Notifier(environ=env).watchdog_interval() == pytest.approx(15.0)


@pytest.mark.parametrize("usec", ["", "0", "-5", "abc", "1.5"])
def test_bad_watchdog_usec_disables_the_watchdog(usec: str) -> None:
    env = {"NOTIFY_SOCKET": "/run/nowhere", "WATCHDOG_USEC": usec}
    assert Notifier(environ=env).watchdog_interval() is None


def test_watchdog_pid_of_another_process_disables_pings(path_socket) -> None:
    sock, address = path_socket
    env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    n = Notifier(environ=env)
    assert n.watchdog_interval() is None
    n.watchdog()
    assert _receive_all(sock) == []
    env["WATCHDOG_PID"] = "not-a-pid"
    assert Notifier(environ=env).watchdog_interval() is None


def test_watchdog_pid_of_this_process_enables_pings(path_socket) -> None:
    sock, address = path_socket
    env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
    n = Notifier(environ=env)
    assert n.watchdog_interval() == pytest.approx(1.0)
    n.watchdog()
    assert _receive_all(sock) == ["WATCHDOG=1"]


def test_watchdog_rate_limits_itself(path_socket) -> None:
    sock, address = path_socket
    clock = FakeClock()
    n = Notifier(environ={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "2000000"}, clock=clock)
    block_s = 1024 / 48000
    sent_at = []
    # Ten seconds of 1024-frame blocks at 48 kHz: one call every ~21 ms.
    for _ in range(round(10.0 / block_s)):
        n.watchdog()
        if _receive_all(sock):
            sent_at.append(clock.now)
        clock.now += block_s
    assert sent_at[0] == 1000.0  # the first call pings at once
    assert 9 <= len(sent_at) <= 11
    gaps = [b - a for a, b in itertools.pairwise(sent_at)]
    assert all(1.0 <= g < 1.0 + block_s + 1e-9 for g in gaps)  # every 1 s, never more often


def test_no_watchdog_without_watchdog_usec(path_socket) -> None:
    sock, address = path_socket
    n = Notifier(environ={"NOTIFY_SOCKET": address})
    assert n.enabled and n.watchdog_interval() is None
    n.watchdog()
    assert _receive_all(sock) == []


def test_watchdog_is_cheap_between_pings(path_socket, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between pings a call is one clock read and a comparison: no syscall, whatever the CPU's speed."""
    sock, address = path_socket
    reads = [0]

    class CountingClock(FakeClock):
        def __call__(self) -> float:
            reads[0] += 1
            return self.now

    clock = CountingClock()
    n = Notifier(environ={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "60000000"}, clock=clock)  # 30 s
    sends = []
    send = Notifier._send
    monkeypatch.setattr(Notifier, "_send", lambda self, *a: sends.append(a[0]) or send(self, *a))
    for _ in range(100_000):  # 100 s of 1 ms calls: pings at 0, 30, 60 and 90 s
        n.watchdog()
        clock.now += 0.001
    assert sends == ["WATCHDOG=1"] * 4 and reads[0] == 100_000
    assert _receive_all(sock) == ["WATCHDOG=1"] * 4


def test_unusable_notify_socket_values_disable_quietly() -> None:
    for value in ("relative/path", "@", "vsock:2:1234"):
        n = Notifier(environ={"NOTIFY_SOCKET": value, "WATCHDOG_USEC": "1000000"})
        assert not n.enabled
        assert n.watchdog_interval() is None
        n.ready()
        n.watchdog()


def test_missing_socket_never_raises_and_logs_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    env = {"NOTIFY_SOCKET": str(tmp_path / "gone"), "WATCHDOG_USEC": "1000000"}
    n = Notifier(environ=env, clock=clock)
    with caplog.at_level(logging.DEBUG, logger="edge.hw.sdnotify"):
        for _ in range(20):
            n.ready()
            n.status("x")
            n.watchdog()
            n.reloading()
            n.stopping()
            clock.now += 1.0
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "READY=1" in warnings[0].getMessage()


def test_vanished_socket_is_ignored_then_recovers(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    clock = FakeClock()
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    receiver.setblocking(False)
    n = Notifier(environ={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "1000000"}, clock=clock)
    n.ready()
    assert _receive_all(receiver) == ["READY=1"]

    receiver.close()  # systemd went away (daemon-reexec)
    path.unlink()
    n.status("lost")
    n.watchdog()
    clock.now += 1.0

    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # and came back at the same path
    receiver.bind(str(path))
    receiver.setblocking(False)
    try:
        n.status("back")
        n.watchdog()
        assert _receive_all(receiver) == ["STATUS=back", "WATCHDOG=1"]
    finally:
        receiver.close()


def test_full_queue_never_blocks_the_audio_thread(path_socket, monkeypatch: pytest.MonkeyPatch) -> None:
    """The watchdog never waits for room in systemd's queue; the other messages wait SEND_WAIT_S at most.

    Judged by the waits asked of select(), not by a stopwatch, so it holds on a slow or busy CPU.
    """
    sock, address = path_socket
    monkeypatch.setattr(sdnotify, "SEND_WAIT_S", 0.05)
    waits: list[float] = []
    real_select = sdnotify.select.select

    def select(r, w, x, timeout):
        waits.append(timeout)
        return real_select(r, w, x, timeout)

    monkeypatch.setattr(sdnotify, "select", type("select", (), {"select": staticmethod(select)}))
    clock = FakeClock()
    n = Notifier(environ={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000"}, clock=clock)
    # Nobody reads: fill systemd's (our) queue until sends start failing.
    for _ in range(5000):
        n.watchdog()
        clock.now += 1.0
    n.status("queue full")  # waits SEND_WAIT_S at most, then gives up
    assert waits == [0.05]  # 5000 pings, the last ones into a full queue, and not one wait
    received = _receive_all(sock)  # drained: pings flow again
    assert 0 < len(received) < 5000 and set(received) == {"WATCHDOG=1"}  # the full queue dropped pings
    clock.now += 1.0
    n.watchdog()
    assert _receive_all(sock) == ["WATCHDOG=1"]


def test_failed_ping_is_retried_before_a_whole_interval(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    clock = FakeClock()
    n = Notifier(environ={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "2000000"}, clock=clock)
    n.watchdog()  # fails: no socket yet
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    receiver.setblocking(False)
    try:
        clock.now += 0.25  # well before the 1 s interval
        n.watchdog()
        assert _receive_all(receiver) == ["WATCHDOG=1"]
    finally:
        receiver.close()


def test_threads_share_one_notifier(path_socket, monkeypatch: pytest.MonkeyPatch) -> None:
    sock, address = path_socket
    monkeypatch.setattr(sdnotify, "SEND_WAIT_S", 0.01)  # nobody reads while the threads run
    n = Notifier(environ={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000"})
    errors: list[BaseException] = []

    def hammer() -> None:
        try:
            for i in range(50):
                n.watchdog()
                n.status(f"s{i}")
        except BaseException as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = _receive_all(sock)
    assert got and all(m == "WATCHDOG=1" or m.startswith("STATUS=s") for m in got)
