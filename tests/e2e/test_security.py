"""MQTT over TLS with verification, broker credentials, and secrets kept out of what the bridge says."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bridge.core.errors import BrokerRefusedError
from bridge.service.config_file import settings_from_mapping
from bridge.service.daemon import run_bridge
from bridge.simulator import SimulatorState, run_simulator
from tests.harness import Broker, observing, start_bridge_process, unique_topics
from tests.reliability import record

pytestmark = pytest.mark.e2e

SERIAL = "4512345600"
BROKER_PASSWORD = "broker-Secret-2718"


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def issue(
    directory: Path, name: str, subject: str, ca: tuple[Path, Path], extensions: str
) -> tuple[Path, Path]:
    key, request, cert, ext = (directory / f"{name}.{suffix}" for suffix in ("key", "csr", "pem", "ext"))
    ext.write_text(extensions)
    openssl(
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(request),
        "-subj",
        subject,
    )
    openssl(
        "x509",
        "-req",
        "-in",
        str(request),
        "-CA",
        str(ca[0]),
        "-CAkey",
        str(ca[1]),
        "-CAcreateserial",
        "-out",
        str(cert),
        "-days",
        "2",
        "-extfile",
        str(ext),
    )
    return cert, key


def authority(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(cert),
        "-days",
        "2",
        "-subj",
        f"/CN={name}",
    )
    return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = authority(directory, "test-ca")
    other_ca, _ = authority(directory, "other-ca")
    server = issue(directory, "server", "/CN=localhost", ca, "subjectAltName=DNS:localhost\n")
    client = issue(directory, "client", "/CN=eg4-bridge", ca, "extendedKeyUsage=clientAuth\n")
    return Pki(ca[0], server[0], server[1], client[0], client[1], other_ca)


@pytest.fixture(scope="module")
def tls_broker(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    extra = (
        f"cafile {pki.ca}\ncertfile {pki.server_cert}\nkeyfile {pki.server_key}\n"
        "require_certificate true\nallow_anonymous true\n"
    )
    broker = Broker(tmp_path_factory.mktemp("tls"), extra)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def password_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    directory = tmp_path_factory.mktemp("auth")
    passwords = directory / "passwords"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwords), "bridge", BROKER_PASSWORD], check=True, timeout=30
    )
    passwords.chmod(0o600)
    broker = Broker(directory, f"allow_anonymous false\npassword_file {passwords}\n")
    broker.start()
    yield broker
    broker.stop()


async def becomes_ready(mqtt: dict[str, Any], within: float) -> bool:
    """Whether the bridge, with these MQTT settings, gets connected and ready within `within` seconds."""
    async with run_simulator(SimulatorState(inverter_count=1)) as simulator:
        topics = unique_topics()
        settings = settings_from_mapping(
            {
                "cloud": {"base_url": simulator.base_url, "username": "demo", "password": "demo"},
                "mqtt": {"base_topic": topics.base, "discovery_prefix": topics.discovery_prefix} | mqtt,
            },
            environ={},
        )
        stop = asyncio.Event()
        ready = asyncio.Event()

        async def on_ready(_coordinator: object) -> None:
            ready.set()

        bridge = asyncio.create_task(run_bridge(settings, stop, on_ready=on_ready))
        try:
            async with asyncio.timeout(within):
                await ready.wait()
            return True
        except TimeoutError:
            return False
        finally:
            stop.set()
            await asyncio.wait_for(bridge, 30)


def client_context(pki: Pki) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    context.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    return context


async def test_tls_with_a_verified_broker_and_a_client_certificate(pki: Pki, tls_broker: Broker) -> None:
    """With the CA and a client certificate, over TLS to `localhost`, the bridge connects and publishes."""
    topics = unique_topics()
    async with run_simulator(SimulatorState(inverter_count=1)) as simulator:
        settings = settings_from_mapping(
            {
                "cloud": {"base_url": simulator.base_url, "username": "demo", "password": "demo"},
                "mqtt": {
                    "host": "localhost",
                    "port": tls_broker.port,
                    "base_topic": topics.base,
                    "tls": {
                        "enabled": True,
                        "ca_file": str(pki.ca),
                        "cert_file": str(pki.client_cert),
                        "key_file": str(pki.client_key),
                    },
                },
            },
            environ={},
        )
        async with observing(
            tls_broker.port, f"{topics.base}/#", host="localhost", tls_context=client_context(pki)
        ) as observer:
            stop = asyncio.Event()
            bridge = asyncio.create_task(run_bridge(settings, stop))
            try:
                state = await observer.wait_for_topic(
                    topics.state(SERIAL, "battery/charge_current"), within=20
                )
                assert state.payload == "25"
            finally:
                stop.set()
                await asyncio.wait_for(bridge, 30)


@pytest.mark.parametrize(
    ("host", "ca", "why"),
    [
        ("127.0.0.1", "ca", "the certificate names localhost, not 127.0.0.1: host name verification refuses"),
        ("localhost", "other_ca", "the broker's certificate is not signed by the configured CA"),
    ],
)
async def test_tls_refuses_a_broker_it_cannot_verify(
    pki: Pki, tls_broker: Broker, host: str, ca: str, why: str
) -> None:
    tls = {
        "enabled": True,
        "ca_file": str(getattr(pki, ca)),
        "cert_file": str(pki.client_cert),
        "key_file": str(pki.client_key),
    }
    assert not await becomes_ready({"host": host, "port": tls_broker.port, "tls": tls}, within=3), why


async def test_broker_credentials_are_used_and_wrong_ones_refused(password_broker: Broker) -> None:
    good = {"port": password_broker.port, "username": "bridge", "password": BROKER_PASSWORD}
    assert await becomes_ready(good, within=15)
    wrong = good | {"password": "not-" + BROKER_PASSWORD}
    with pytest.raises(
        BrokerRefusedError, match=r"refused the bridge's credentials \(\[code:135\] Not authorized\)"
    ):
        await becomes_ready(wrong, within=3)


async def test_nothing_the_bridge_publishes_holds_a_secret(password_broker: Broker) -> None:
    """Discovery, states and results carry no cloud or broker password."""
    topics = unique_topics()
    cloud_secret = "cloud-Secret-1618"
    async with run_simulator(SimulatorState(inverter_count=1, password=cloud_secret)) as simulator:
        settings = settings_from_mapping(
            {
                "cloud": {"base_url": simulator.base_url, "username": "demo", "password": cloud_secret},
                "mqtt": {
                    "port": password_broker.port,
                    "username": "bridge",
                    "password": BROKER_PASSWORD,
                    "base_topic": topics.base,
                    "discovery_prefix": topics.discovery_prefix,
                },
            },
            environ={},
        )
        async with observing(
            password_broker.port,
            f"{topics.base}/#",
            f"{topics.discovery_prefix}/#",
            username="bridge",
            password=BROKER_PASSWORD,
        ) as observer:
            stop = asyncio.Event()
            bridge = asyncio.create_task(run_bridge(settings, stop))
            try:
                await observer.wait_for_topic(topics.state(SERIAL, "battery/charge_current"), within=20)
                await observer.publish(topics.command(SERIAL, "battery/charge_current"), "bad")
                await observer.wait_for_topic(topics.result(SERIAL, "battery/charge_current"))
            finally:
                stop.set()
                await asyncio.wait_for(bridge, 30)
        published = "".join(seen.topic + seen.payload for seen in observer.messages)
        assert len(observer.messages) > 20
        assert cloud_secret not in published
        assert BROKER_PASSWORD not in published
        assert cloud_secret not in repr(settings) + str(settings)


async def test_run_exits_1_when_the_broker_refuses_its_credentials(
    password_broker: Broker, tmp_path: Path
) -> None:
    """Refused at start, the bridge does not retry forever behind a fed watchdog: it says why and exits 1."""
    async with run_simulator(SimulatorState(inverter_count=1)) as simulator:
        config = tmp_path / "config.yaml"
        config.write_text(
            f"cloud: {{base_url: '{simulator.base_url}', username: demo, password: demo}}\n"
            f"mqtt: {{port: {password_broker.port}, username: bridge, password: wrong-{BROKER_PASSWORD}}}\n"
        )
        config.chmod(0o600)
        bridge = await start_bridge_process(config)
        _stdout, stderr = await asyncio.wait_for(bridge.communicate(), timeout=60)
    assert bridge.returncode == 1
    text = stderr.decode()
    assert (
        f"eg4-bridge: the MQTT broker at 127.0.0.1:{password_broker.port} refused the bridge's credentials "
        "([code:135] Not authorized); check mqtt.username and mqtt.password\n"
    ) in text
    assert BROKER_PASSWORD not in text
    record(
        "fault",
        "broker credentials refused at start",
        1,
        "run exited 1 naming the broker and the broker's refusal; the password was not printed",
    )
