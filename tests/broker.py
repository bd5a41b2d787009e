"""Test helpers: a real mosquitto on a free loopback port, TLS material, and a probe client.

Nothing here is mocked. ``Mosquitto`` runs /usr/sbin/mosquitto with a temp
config and can be killed and restarted on the same port; ``Probe`` is a plain
paho client that publishes and records what it receives, the way Home
Assistant or Node-RED would. Test modules wrap these in their own fixtures
(this file is not a conftest), e.g.::

    @pytest.fixture(scope="module")
    def broker(tmp_path_factory):
        with Mosquitto(tmp_path_factory.mktemp("mqtt")) as running:
            yield running
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

MOSQUITTO = "/usr/sbin/mosquitto"
HOST = "127.0.0.1"


def require_mosquitto() -> None:
    """Skip the calling test when the broker binary is not installed."""
    if not Path(MOSQUITTO).exists() and shutil.which("mosquitto") is None:
        pytest.skip("mosquitto is not installed")


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> bool:
    """Poll ``predicate`` until it is truthy or ``timeout`` passes; return its last truthiness."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


class Mosquitto:
    """One mosquitto process with a temp config; ``restart()`` keeps the port."""

    def __init__(self, workdir: Path, port: int | None = None, extra: Sequence[str] = ()) -> None:
        require_mosquitto()
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.host = HOST
        self.extra = list(extra)
        self.conf = self.workdir / f"mosquitto-{self.port}.conf"
        self.log = self.workdir / f"mosquitto-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def write_config(self) -> None:
        """``listener``, anonymous access, no persistence, log to stdout, plus ``extra`` lines."""
        lines = [
            f"listener {self.port} {HOST}",
            "allow_anonymous true",
            "persistence false",
            "log_dest stdout",
            "log_type all",
            # Run as root, mosquitto drops to user "mosquitto" and can no longer read temp files.
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
        ]
        lines += self.extra
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 5.0) -> None:
        """Start the broker and wait until it accepts connections."""
        self.write_config()
        with self.log.open("ab") as log:
            # Line-buffered stdout, so tests can read the broker's log while it runs.
            unbuffered = ["stdbuf", "-oL"] if shutil.which("stdbuf") else []
            self._proc = subprocess.Popen(
                [*unbuffered, MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT
            )
        self.starts += 1
        if not wait_for(self._listening, timeout):
            self.stop()
            raise RuntimeError(f"mosquitto did not start on port {self.port}:\n{self.log_text()[-2000:]}")

    def _listening(self) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {self._proc.returncode}:\n{self.log_text()[-2000:]}")
        try:
            with socket.create_connection((HOST, self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self, kill: bool = False) -> None:
        """Stop the broker: SIGKILL (a crash, no goodbyes) with ``kill``, else SIGTERM."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        if kill:
            proc.kill()
        else:
            proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def restart(self, kill: bool = True) -> None:
        """Kill and start again on the same port (retained messages are gone: no persistence)."""
        self.stop(kill=kill)
        self.start()

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def log_text(self) -> str:
        """Everything the broker logged so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class Certs:
    """Files made by ``make_certs``."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(folder: Path) -> Certs:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate (EC keys: fast)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", "/CN=edge-music test CA", cwd=folder)  # fmt: skip
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, cn in (("server", "127.0.0.1"), ("client", "edge-music-client")):
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}",
                 cwd=folder)  # fmt: skip
        extra = ("-extfile", "server.ext") if name == "server" else ()
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", *extra, cwd=folder)  # fmt: skip
    return Certs(*(folder / n for n in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key")))


def password_file(path: Path, users: dict[str, str]) -> Path:
    """A mosquitto password file made with ``mosquitto_passwd -b``."""
    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto_passwd is not installed")
    path.unlink(missing_ok=True)
    for i, (user, password) in enumerate(users.items()):
        flags = ["-c"] if i == 0 else []
        subprocess.run(["mosquitto_passwd", *flags, "-b", str(path), user, password], check=True)
    return path


def tls_lines(certs: Certs, passwords: Path) -> list[str]:
    """Extra mosquitto config: TLS with required client certificates and a password file."""
    return [
        f"cafile {certs.ca}",
        f"certfile {certs.server_cert}",
        f"keyfile {certs.server_key}",
        "require_certificate true",
        "tls_version tlsv1.2",
        f"password_file {passwords}",
    ]


class Probe:
    """A plain paho client: subscribes, records messages, publishes and waits for delivery."""

    def __init__(
        self,
        port: int,
        subscribe: Iterable[str] = (),
        host: str = HOST,
        username: str | None = None,
        password: str | None = None,
        certs: Certs | None = None,
    ) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._cond = threading.Condition()
        self._topics = list(subscribe)
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{uuid.uuid4().hex[:8]}")
        if username:
            self.client.username_pw_set(username, password)
        if certs is not None:
            self.client.tls_set(str(certs.ca), str(certs.client_cert), str(certs.client_key))
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        if not wait_for(self.client.is_connected, 5):
            raise RuntimeError("probe could not connect")
        if self._topics and not self._subscribed.wait(5):
            raise RuntimeError("probe could not subscribe")

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if self._topics:
            client.subscribe([(t, 1) for t in self._topics])

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()

    def publish(self, topic: str, payload: bytes | str, retain: bool = False, qos: int = 1) -> None:
        """Publish and wait until the broker has it."""
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(5)

    def received(self, topic: str | None = None) -> list[mqtt.MQTTMessage]:
        """Messages so far, optionally on one topic."""
        with self._cond:
            return [m for m in self.messages if topic is None or m.topic == topic]

    def clear(self) -> None:
        """Forget what was received."""
        with self._cond:
            self.messages.clear()

    def wait(
        self, topic: str, predicate: Callable[[mqtt.MQTTMessage], bool] = lambda m: True, timeout: float = 5.0
    ) -> mqtt.MQTTMessage:
        """The first recorded message on ``topic`` satisfying ``predicate``; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for msg in self.messages:
                    if msg.topic == topic and predicate(msg):
                        return msg
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [m.topic for m in self.messages][-10:]
                    raise AssertionError(f"no matching message on {topic} within {timeout} s (last: {seen})")
                self._cond.wait(left)

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Probe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FakeClock:
    """An injectable monotonic clock that only moves when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


STYLES = ("focus", "ambient", "house", "workout")


@dataclass
class Speaker:
    """What the MQTT tests drive: a LiveState and the link in front of it.

    The restart test only uses ``state``, ``base``, ``connected`` and ``stop``,
    so the running daemon can stand in for it once the wiring exists.
    """

    state: Any
    """The shared LiveState."""
    link: Any
    """The MqttLink."""

    @property
    def base(self) -> str:
        """The topic base."""
        return self.link.base

    @property
    def connected(self) -> bool:
        """True while the link is connected."""
        return self.link.connected

    def stop(self) -> None:
        """Stop the link."""
        self.link.stop()


def start_speaker(
    broker: Mosquitto, device_id: str | None = None, mappings: Sequence[Any] = (), clock: Any = None,
    wait: bool = True, **config: Any,
) -> Speaker:  # fmt: skip
    """A LiveState plus a started MqttLink on ``broker``; waits for the first state message."""
    from edge.config import MqttConfig
    from edge.context.context import Context
    from edge.context.control import LiveState
    from edge.mqtt import MqttLink

    state = LiveState(Context(), STYLES)
    device_id = device_id or f"t{uuid.uuid4().hex[:8]}"
    cfg = MqttConfig(host=broker.host, port=broker.port, device_id=device_id, **config)
    kwargs = {"clock": clock} if clock is not None else {}
    link = MqttLink(cfg, state, STYLES, mappings, **kwargs)
    link.start()
    if wait and not wait_for(lambda: link.connected, 10):
        link.stop()
        raise RuntimeError("the link did not connect")
    return Speaker(state, link)
