"""Test helpers: a real Snapcast server and client on free loopback ports, and checks on what it plays.

Nothing here is mocked. ``Snapcast`` runs Debian's ``snapserver`` with a
private config (its own datadir, the stream port on a free loopback port, the
JSON-RPC control over TCP and HTTP switched off, so no fixed port is ever
taken) and a ``snapclient`` whose ``file`` player writes the raw S16_LE it
would play into ``out.raw`` (silence while it has no audio), so no sound card
is needed. The server can be stopped and started again on the same port, and
the client reconnects by itself (snapclient retries once a second). The pipe
source line comes from the README's multi-room example (``readme_source``),
so the two cannot drift apart.

The stream's end-to-end ``buffer`` is 500 ms here instead of snapserver's
1000 ms default: a client plays audio ``buffer`` after the server read it, so
after a restart it hears music again after its next reconnect attempt (up to
1 s) plus ``buffer``; with 500 ms that stays clearly under the 2 s the restart
test asks for, with the default it can reach about 2.2 s.

Use it as a context manager::

    with Snapcast(tmp_path) as snap:
        snap.start_server()
        snap.start_client()
        ...
        audio = snap.audio()
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
RATE = 48000
CHANNELS = 2
SNAPSERVER = shutil.which("snapserver")
SNAPCLIENT = shutil.which("snapclient")


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def readme_source(doc: Path = ROOT / "README.md") -> str:
    """The ``source = pipe://...`` URI of the snapserver.conf example in ``doc``."""
    found = re.findall(r"^source = (pipe://\S+)$", doc.read_text(), re.MULTILINE)
    assert len(found) == 1, f"{doc} should show exactly one snapserver pipe source line, found {found}"
    return found[0]


def with_path(source: str, path: Path) -> str:
    """``source`` with its pipe path replaced by ``path``, every option kept as written."""
    query = urlsplit(source).query
    return f"pipe://{path}?{query}"


class Snapcast:
    """snapserver + snapclient in ``root``: the pipe ``root/snapfifo``, what the client plays ``out.raw``."""

    def __init__(self, root: Path, source: str | None = None, buffer_ms: int = 500) -> None:
        self.root = root
        self.fifo = root / "snapfifo"
        self.out = root / "out.raw"
        self.port = free_port()
        self.source = with_path(source or readme_source(), self.fifo)
        self.conf = root / "snapserver.conf"
        self.conf.write_text(
            f"[stream]\nsource = {self.source}\nbind_to_address = {HOST}\nport = {self.port}\n"
            f"buffer = {buffer_ms}\n"
            "[tcp]\nenabled = false\n[http]\nenabled = false\n"
            f"[server]\ndatadir = {root}\n[logging]\nsink = stderr\n"
        )
        self.server: subprocess.Popen[bytes] | None = None
        self.client: subprocess.Popen[bytes] | None = None
        self._server_log = (root / "snapserver.log").open("ab")
        self._client_log = (root / "snapclient.log").open("ab")

    # -- processes ------------------------------------------------------------------------

    def start_server(self) -> None:
        """Start snapserver and wait until its stream port accepts connections."""
        assert self.server is None, "snapserver is already running"
        self.server = subprocess.Popen(
            [SNAPSERVER, "-c", str(self.conf)], stdout=self._server_log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.server.poll() is None, f"snapserver exited: {self.server_log()}"
            try:
                with socket.create_connection((HOST, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise AssertionError(f"snapserver did not listen on {self.port}: {self.server_log()}")

    def stop_server(self) -> None:
        """SIGTERM snapserver and wait for it to exit."""
        self.server = _stop(self.server)

    def start_client(self) -> None:
        """Start snapclient; its file player appends to ``out.raw`` (appending survives reconnects)."""
        assert self.client is None, "snapclient is already running"
        self.client = subprocess.Popen(
            [SNAPCLIENT, "-h", HOST, "-p", str(self.port), "--logsink", "stderr",
             "--player", f"file:filename={self.out},mode=a"],
            stdout=self._client_log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def stop_client(self) -> None:
        """SIGTERM snapclient and wait for it to exit."""
        self.client = _stop(self.client)

    def close(self) -> None:
        """Stop both (safe to call twice)."""
        self.stop_client()
        self.stop_server()
        self._server_log.close()
        self._client_log.close()

    def __enter__(self) -> Snapcast:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def server_log(self) -> str:
        """What snapserver has logged so far."""
        self._server_log.flush()
        return (self.root / "snapserver.log").read_text(errors="replace")

    # -- what the client played -------------------------------------------------------------

    def audio(self) -> np.ndarray:
        """Everything the client has played so far, int16 (frames, 2)."""
        data = self.out.read_bytes() if self.out.exists() else b""
        frame = 2 * CHANNELS
        return np.frombuffer(data[: len(data) - len(data) % frame], dtype="<i2").reshape(-1, CHANNELS)

    def frames(self) -> int:
        """How many frames the client has played so far."""
        return (self.out.stat().st_size if self.out.exists() else 0) // (2 * CHANNELS)

    def music_after(self, frame: int, seconds: float = 0.1) -> bool:
        """Whether the client has played ``seconds`` of sound (not digital silence) past ``frame``."""
        audio = self.audio()[frame:]
        loud = int(np.count_nonzero(audio.any(axis=1)))
        return len(audio) >= seconds * RATE and loud >= seconds * RATE * 0.9


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return None


# -- checks on the audio ----------------------------------------------------------------------


def sound(audio: np.ndarray) -> np.ndarray:
    """``audio`` from its first to its last frame that is not digital silence."""
    loud = np.flatnonzero(audio.any(axis=1))
    return audio[loud[0] : loud[-1] + 1] if len(loud) else audio[:0]


def gaps(audio: np.ndarray, longer_than: int) -> list[tuple[int, int]]:
    """(start, frames) of every run of digital silence (in every channel) longer than ``longer_than``."""
    silent = np.concatenate([[0], (~audio.any(axis=1)).astype(np.int8), [0]])
    edges = np.diff(silent)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(a), int(b - a)) for a, b in zip(starts, ends, strict=True) if b - a > longer_than]


def stretches(audio: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """(begin, end) of the stretches of ``audio`` between its ``gaps(audio, gap)``."""
    edges = [0, *(x for start, frames in gaps(audio, gap) for x in (start, start + frames)), len(audio)]
    return list(zip(edges[::2], edges[1::2], strict=True))


def resyncs(log: str) -> int:
    """How often snapserver, itself starved of CPU, skipped its stream ahead (its clients hear a gap)."""
    return log.count("onResync")


def window_rms(audio: np.ndarray, seconds: float = 0.1) -> np.ndarray:
    """RMS (full scale = 1) of each whole ``seconds`` window of ``audio``."""
    size = round(seconds * RATE)
    whole = len(audio) // size * size
    x = audio[:whole].astype(np.float64).reshape(-1, size * audio.shape[1]) / 32768
    return np.sqrt(np.mean(x**2, axis=1))
