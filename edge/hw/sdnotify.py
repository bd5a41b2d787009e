"""systemd service notifications (``sd_notify``) in pure Python, no libsystemd needed.

The protocol: each message is one datagram of ``KEY=VALUE`` lines sent to the
AF_UNIX socket named by ``$NOTIFY_SOCKET`` (a filesystem path, or ``@name`` for
the abstract namespace). systemd sets the variable only for ``Type=notify``
services; everywhere else (a terminal, the tests, Docker) every method here is a
no-op, so the daemon can call them unconditionally.

How edge-music uses it (see docs/install.md):

* ``ready()`` once the first audio block has reached the sink,
* ``status(status_text(...))`` whenever style, tier or temperature change,
* ``watchdog()`` after every block written by the sink thread (``Player(on_block=...)``):
  it rate-limits itself, so a hung producer, which stops the blocks, stops the pings,
* ``reloading()`` then ``ready()`` around a SIGHUP config reload,
* ``stopping()`` when shutdown begins.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

# How long ready/status/stopping/reloading may wait when systemd's queue is full.
# The watchdog never waits: it runs on the audio thread.
SEND_WAIT_S = 1.0

# After a failed ping, try again this fraction of the interval later rather than a
# whole interval: one lost ping must not add up to a missed watchdog deadline.
_RETRY_FRACTION = 0.125


def _socket_address(value: str) -> bytes | None:
    """The sockaddr_un path for a NOTIFY_SOCKET value, or None when it is not one we can use."""
    if value.startswith("@") and len(value) > 1:
        return b"\0" + os.fsencode(value[1:])  # abstract namespace: leading NUL, no file
    if value.startswith("/"):
        return os.fsencode(value)
    return None  # relative paths and newer forms (vsock:...) are not supported


def _watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    """Half of WATCHDOG_USEC in seconds, the sd_watchdog_enabled() rules, or None."""
    raw = environ.get("WATCHDOG_USEC", "")
    try:
        usec = int(raw)
    except ValueError:
        return None
    if usec <= 0:
        return None
    owner = environ.get("WATCHDOG_PID")
    if owner is not None:
        # The variables are inherited by children; only the named process may ping.
        try:
            if int(owner) != pid:
                return None
        except ValueError:
            return None
    return usec / 1_000_000 / 2


def status_text(style: str, tier: str, temperature_c: float | None) -> str:
    """The one-line STATUS= shown by ``systemctl status edge-music``."""
    temp = "temperature n/a" if temperature_c is None else f"SoC {temperature_c:.1f} °C"
    return f"Playing {style}, tier {tier}, {temp}"


class Notifier:
    """sd_notify over $NOTIFY_SOCKET; every method does nothing when the variable is unset.

    Thread-safe, and no method ever raises: a missing or vanished socket is logged
    once and then ignored (each later message still tries, so notifications resume
    if systemd re-creates the socket, e.g. after ``systemctl daemon-reexec``).
    """

    def __init__(self, environ: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        env = os.environ if environ is None else environ
        self._clock = clock
        self._pid = os.getpid()
        raw = env.get("NOTIFY_SOCKET", "")
        self._address = _socket_address(raw) if raw else None
        if raw and self._address is None:
            log.warning("NOTIFY_SOCKET=%r is neither a path nor @name; systemd notifications are off", raw)
        self._interval = _watchdog_interval(env, self._pid) if self._address is not None else None
        self._next_ping = float("-inf")  # the first watchdog() call pings at once
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()  # guards _sock (create, replace, close)
        self._failed_once = False

    # -- public API ---------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """True when running under systemd with a usable $NOTIFY_SOCKET."""
        return self._address is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings (half of $WATCHDOG_USEC), or None when the watchdog is off."""
        return self._interval

    def ready(self) -> None:
        """Tell systemd start-up is complete (Type=notify: the unit becomes active)."""
        self._send("READY=1", SEND_WAIT_S)

    def status(self, text: str) -> None:
        """Set the free-form status line; newlines are flattened so it stays one field."""
        self._send("STATUS=" + " ".join(str(text).splitlines()), SEND_WAIT_S)

    def stopping(self) -> None:
        """Tell systemd shutdown has begun."""
        self._send("STOPPING=1", SEND_WAIT_S)

    def reloading(self) -> None:
        """Tell systemd a config reload has begun; call ready() when it is done."""
        # MONOTONIC_USEC lets newer systemd (253+) match this message to its reload request.
        # It must be CLOCK_MONOTONIC itself, not the injectable clock used for rate limiting.
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self._send(f"RELOADING=1\nMONOTONIC_USEC={usec}", SEND_WAIT_S)

    def watchdog(self) -> None:
        """Ping the watchdog; cheap enough to call after every audio block.

        Sends at most one WATCHDOG=1 per ``watchdog_interval()``; all other calls
        cost one clock read and a comparison. Never blocks.
        """
        interval = self._interval
        if interval is None:
            return
        now = self._clock()
        if now < self._next_ping:
            return
        if os.getpid() != self._pid:
            return  # a forked child: WATCHDOG_PID names the parent
        sent = self._send("WATCHDOG=1", 0.0)
        self._next_ping = now + (interval if sent else interval * _RETRY_FRACTION)

    # -- internals ----------------------------------------------------------------

    def _connected_socket(self, address: bytes) -> socket.socket:
        with self._lock:
            if self._sock is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                try:
                    # Connected, so poll() reports when systemd's queue has room again.
                    sock.connect(address)
                    sock.setblocking(False)
                except BaseException:
                    sock.close()
                    raise
                self._sock = sock
            return self._sock

    def _drop_socket(self, sock: socket.socket) -> None:
        with self._lock:
            if self._sock is sock:
                self._sock = None
        sock.close()

    def _send(self, message: str, wait_s: float) -> bool:
        """Send one datagram; True on success. Never raises."""
        address = self._address
        if address is None:
            return False
        data = message.encode("utf-8", "replace")
        sock: socket.socket | None = None
        try:
            sock = self._connected_socket(address)
            try:
                sock.send(data)
            except BlockingIOError:
                # systemd's queue is full; the watchdog drops the ping, the rest wait a little.
                if wait_s <= 0 or not select.select([], [sock], [], wait_s)[1]:
                    raise
                sock.send(data)
            return True
        except Exception as exc:  # never into the caller: this runs on the audio path
            if sock is not None and not isinstance(exc, BlockingIOError):
                self._drop_socket(sock)  # reconnect next time: systemd may re-create the socket
            self._report(message, exc)
            return False

    def _report(self, message: str, exc: Exception) -> None:
        first = message.partition("\n")[0]
        if self._failed_once:
            log.debug("sd_notify %s failed: %s", first, exc)
            return
        self._failed_once = True
        log.warning("sd_notify %s to %r failed: %s (further failures are not logged)",
                    first, self._address, exc)
