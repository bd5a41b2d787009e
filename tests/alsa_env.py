"""A private ALSA configuration for tests that drive real ALSA through pyalsaaudio.

No sound card is needed: PCMs are alsa-lib's own ``file`` plugin (writes the
stream to a file) over the ``null`` plugin (discards it, never pacing).

How the config gets in: ``ALSA_CONFIG_PATH`` lists the system alsa.conf plus
one private file. alsa-lib re-checks that list (names, inodes, mtimes) on
every ``snd_pcm_open`` and reloads when it changed, so each test can point at
its own file, and a test can make a PCM appear or vanish by atomically
replacing that file (a new inode is always noticed, even within one second).
HOME is moved too, so a developer's ~/.asoundrc cannot interfere.

Import the fixture explicitly: ``from tests.alsa_env import alsa_env``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

SYSTEM_CONF = "/usr/share/alsa/alsa.conf"


class AlsaEnv:
    """The private config of one test: ``default`` writes raw frames to ``raw_path``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.conf_path = root / "private.conf"
        self.raw_path = root / "out.raw"
        self.extra: dict[str, str] = {}
        self.write_conf()

    def base_conf(self) -> str:
        """The PCMs every test gets: rawfile, wavfile and default (plug -> rawfile)."""
        return (
            f'pcm.rawfile {{ type file slave.pcm "null" file "{self.raw_path}" format "raw" }}\n'
            f'pcm.wavfile {{ type file slave.pcm "null" file "{self.root / "out.wav"}" format "wav" }}\n'
            'pcm.!default { type plug slave.pcm "rawfile" }\n'
        )

    def write_conf(self) -> None:
        """Atomically replace the private config with the base PCMs plus ``extra``."""
        text = self.base_conf() + "".join(self.extra.values())
        tmp = self.conf_path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.conf_path)  # new inode: alsa-lib reloads on the next open

    def define(self, name: str, body: str) -> None:
        """Add (or replace) ``pcm.<name> { <body> }``."""
        self.extra[name] = f"pcm.{name} {{ {body} }}\n"
        self.write_conf()

    def undefine(self, name: str) -> None:
        """Remove ``pcm.<name>``: opening it now fails with "No such file or directory"."""
        self.extra.pop(name, None)
        self.write_conf()

    def raw(self, fmt: str = "<i2", channels: int = 2) -> np.ndarray:
        """The frames that reached ``raw_path`` as (frames, channels)."""
        data = self.raw_path.read_bytes() if self.raw_path.exists() else b""
        x = np.frombuffer(data, dtype=fmt)
        return x[: len(x) - len(x) % channels].reshape(-1, channels)


class FifoDevice:
    """A hot-pluggable PCM: a ``file`` plugin writing into a named pipe the test reads.

    plug(): open the pipe for reading, then define ``pcm.<name>`` -> the device exists.
    unplug(): undefine ``pcm.<name>``, then close the reader. alsa-lib's file
    plugin then fails its next write() into the pipe with EPIPE and returns
    -EIO, so pyalsaaudio's PCM.write raises ALSAAudioError("Input/output
    error") mid-play, and reopening fails until plug() is called again: the
    same sequence of errors an unplugged USB DAC gives.
    """

    def __init__(self, env: AlsaEnv, name: str) -> None:
        self.env = env
        self.name = name
        self.path = env.root / f"{name}.fifo"
        os.mkfifo(self.path)
        self.received = 0
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def plug(self) -> None:
        """Attach a reader and make the PCM name exist."""
        # Reader first: alsa-lib opens the pipe with a blocking O_WRONLY open.
        self._fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self._stop.clear()
        self._thread = threading.Thread(target=self._drain, args=(self._fd,), daemon=True)
        self._thread.start()
        self.env.define(self.name, f'type file slave.pcm "null" file "{self.path}" format "raw"')

    def unplug(self) -> None:
        """Make the PCM name vanish, then close the reader (writes now fail)."""
        self.env.undefine(self.name)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _drain(self, fd: int) -> None:
        while not self._stop.is_set():
            try:
                data = os.read(fd, 1 << 16)
            except BlockingIOError:
                data = b""
            if data:
                with self._lock:
                    self.received += len(data)
            else:
                time.sleep(0.005)  # no writer or nothing yet; EOF on a pipe is not final

    def close(self) -> None:
        """Stop reading (used at teardown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@pytest.fixture
def alsa_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AlsaEnv]:
    """A private ALSA config for one test (see the module docstring)."""
    root = tmp_path / "alsa"
    root.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    env = AlsaEnv(root)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("ALSA_CONFIG_PATH", f"{SYSTEM_CONF}:{env.conf_path}")
    yield env


def wait_until(predicate: Callable[[], object], timeout: float = 5.0, step: float = 0.01) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass (a functional deadline)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


@contextlib.contextmanager
def fifo_device(env: AlsaEnv, name: str) -> Iterator[FifoDevice]:
    """A FifoDevice that is cleaned up afterwards (starts unplugged)."""
    dev = FifoDevice(env, name)
    try:
        yield dev
    finally:
        dev.close()
