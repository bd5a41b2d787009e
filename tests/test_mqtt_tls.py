"""TLS with client certificates and a password file, on a second mosquitto."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from edge.config import ConfigError, MqttConfig
from edge.context.context import Context
from edge.context.control import LiveState
from edge.mqtt import MqttLink
from tests.broker import STYLES, Certs, Mosquitto, Probe, make_certs, password_file, tls_lines, wait_for

USER, PASSWORD = "speaker", "s3cret-pw"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory, certs: Certs) -> Iterator[Mosquitto]:
    folder = tmp_path_factory.mktemp("tls")
    passwords = password_file(folder / "passwd", {USER: PASSWORD})
    with Mosquitto(folder, extra=tls_lines(certs, passwords)) as running:
        yield running


def tls_link(broker: Mosquitto, certs: Certs, password: str, **extra) -> tuple[LiveState, MqttLink]:
    config = MqttConfig(
        host="127.0.0.1", port=broker.port, device_id="tls-speaker", username=USER, password=password,
        tls_ca=str(certs.ca), tls_cert=str(certs.client_cert), tls_key=str(certs.client_key), **extra,
    )  # fmt: skip
    state = LiveState(Context(), STYLES)
    return state, MqttLink(config, state, STYLES)


def test_wrong_password_is_refused_with_one_clear_line(
    tls_broker: Mosquitto, certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edge.mqtt")
    _, link = tls_link(tls_broker, certs, "wrong")
    link.start()
    try:
        expected = f"MQTT broker refused login for user '{USER}': Not authorized"
        assert wait_for(lambda: expected in caplog.text, 10), caplog.text
        # paho keeps retrying (1 s, then 2 s, ...): wait for a second refusal at the broker.
        assert wait_for(lambda: tls_broker.log_text().count("not authorised") >= 2, 10), tls_broker.log_text()
        assert not link.connected
    finally:
        link.stop()
    refusals = [r for r in caplog.records if "refused login" in r.getMessage()]
    assert len(refusals) == 1 and refusals[0].levelno == logging.ERROR  # retries do not repeat it


def test_tls_and_the_right_password_work(tls_broker: Mosquitto, certs: Certs) -> None:
    state, link = tls_link(tls_broker, certs, PASSWORD)
    link.start()
    try:
        assert wait_for(lambda: link.connected, 10)
        login = {"username": USER, "password": PASSWORD, "certs": certs}
        with Probe(tls_broker.port, [f"{link.base}/state"], **login) as probe:
            probe.wait(f"{link.base}/state")
            probe.publish(f"{link.base}/set", '{"volume": 44}')
            assert wait_for(lambda: state.snapshot().volume == 44)
    finally:
        link.stop()


def test_plain_connection_to_the_tls_port_never_connects(tls_broker: Mosquitto, certs: Certs) -> None:
    state = LiveState(Context(), STYLES)
    link = MqttLink(MqttConfig(host="127.0.0.1", port=tls_broker.port, device_id="plain"), state, STYLES)
    link.start()
    try:
        assert not wait_for(lambda: link.connected, 1.5)
    finally:
        link.stop()


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"tls_ca": "/nonexistent/ca.crt"}, "TLS files cannot be loaded"),
     ({"tls_key": ""}, "tls_cert and mqtt.tls_key go together"),
     ({"username": ""}, "password is set but mqtt.username is empty")],
)  # fmt: skip
def test_bad_tls_or_login_settings_are_config_errors(certs: Certs, changes: dict, message: str) -> None:
    base = {"tls_ca": str(certs.ca), "tls_cert": str(certs.client_cert), "tls_key": str(certs.client_key),
            "username": USER, "password": PASSWORD}  # fmt: skip
    with pytest.raises(ConfigError, match=message):
        MqttLink(MqttConfig(**{**base, **changes}), LiveState(Context(), STYLES), STYLES)
