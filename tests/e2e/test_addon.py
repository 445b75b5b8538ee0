"""The Home Assistant add-on: its config follows the add-on schema rules, and its start script turns the
user's options and the Supervisor's MQTT service (a fake Supervisor over real HTTP) into a bridge config."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from bridge import __version__
from bridge.service.addon import AddonError, write_config
from bridge.service.config_file import load_settings
from tests.harness import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]
ADDON = ROOT / "eg4_mqtt_bridge"
TOKEN = "supervisor-token-123"
BROKER = {"host": "core-mosquitto", "port": 1883, "ssl": False, "protocol": "3.1.1", "username": "addons",
          "password": "broker-secret-9", "addon": "core_mosquitto"}  # fmt: skip
OPTIONS = {
    "cloud_username": "owner@example.org",
    "cloud_password": "cloud-secret-7",
    "cloud_base_url": "https://monitor.eg4electronics.com",
    "read_only": False,
    "max_charge_current": 150,
    "max_discharge_current": 200,
    "runtime_seconds": 60,
    "parameters_seconds": 300,
    "log_level": "INFO",
}


class FakeSupervisor:
    """The Supervisor's `/services/mqtt`, answering only with the right token; it counts the requests."""

    def __init__(self, service: dict[str, Any] | None, raw: str | None = None) -> None:
        self.service = service
        #: An answer given as is, whatever it is.
        self.raw = raw
        self.requests = 0

    async def mqtt(self, request: web.Request) -> web.Response:
        self.requests += 1
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"result": "error", "message": "Unauthorized"}, status=401)
        if self.raw is not None:
            return web.Response(text=self.raw, content_type="application/json")
        if self.service is None:
            return web.json_response({"result": "error", "message": "Service not enabled"}, status=400)
        return web.json_response({"result": "ok", "data": self.service})


@asynccontextmanager
async def supervisor(
    service: dict[str, Any] | None, raw: str | None = None
) -> AsyncIterator[tuple[FakeSupervisor, str]]:
    fake = FakeSupervisor(service, raw)
    app = web.Application()
    app.router.add_get("/services/mqtt", fake.mqtt)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield fake, f"http://127.0.0.1:{port}/services/mqtt"
    finally:
        await runner.cleanup()


async def start(
    tmp_path: Path, options: dict[str, Any], service: dict[str, Any] | None, token: str | None = TOKEN
) -> tuple[dict[str, Any], int]:
    import asyncio

    options_path, config_path = tmp_path / "options.json", tmp_path / "config.yaml"
    options_path.write_text(json.dumps(options))
    async with supervisor(service) as (fake, url):
        await asyncio.to_thread(write_config, options_path, config_path, url, token)
    config: dict[str, Any] = yaml.safe_load(config_path.read_text())
    assert config_path.stat().st_mode & 0o777 == 0o600
    return config, fake.requests


async def test_with_the_mosquitto_add_on_the_user_enters_nothing_about_mqtt(tmp_path: Path) -> None:
    config, asked = await start(tmp_path, OPTIONS, BROKER)
    assert asked == 1
    assert config["mqtt"] == {
        "base_topic": "eg4",
        "host": "core-mosquitto",
        "port": 1883,
        "username": "addons",
        "password": "broker-secret-9",
    }
    assert config["health"] == {"enabled": True, "host": "0.0.0.0", "port": 9108}
    settings = load_settings(tmp_path / "config.yaml", environ={})
    assert settings.limits_for("4512345600").max_charge_current == 150
    assert settings.cloud is not None
    assert settings.cloud.password.get_secret_value() == "cloud-secret-7"


async def test_local_control_with_no_cloud_account_becomes_dongles_in_the_config(tmp_path: Path) -> None:
    options = OPTIONS | {
        "cloud_username": "",
        "cloud_password": "",
        "transport": "local",
        "dongles": [
            {"inverter_serial": "4512345600", "host": "192.168.1.50", "dongle_serial": "BA12345600"},
            {
                "inverter_serial": "4512345601",
                "host": "192.168.1.51",
                "dongle_serial": "BA12345601",
                "port": 8001,
            },
        ],
    }
    config, _asked = await start(tmp_path, options, BROKER)
    assert "cloud" not in config
    settings = load_settings(tmp_path / "config.yaml", environ={})
    assert settings.cloud is None
    assert {
        serial: (dongle.host, dongle.port, dongle.serial) for serial, dongle in settings.dongles.items()
    } == {
        "4512345600": ("192.168.1.50", 8000, "BA12345600"),
        "4512345601": ("192.168.1.51", 8001, "BA12345601"),
    }
    hybrid, _asked = await start(
        tmp_path, OPTIONS | {"transport": "hybrid", "dongles": options["dongles"]}, BROKER
    )
    assert hybrid["cloud"]["username"] == "owner@example.org"  # hybrid keeps the account


async def test_local_control_without_any_dongle_is_refused_with_a_sentence(tmp_path: Path) -> None:
    options = OPTIONS | {"cloud_username": "", "transport": "local"}
    with pytest.raises(AddonError) as refused:
        await start(tmp_path, options, BROKER)
    assert "cloud: required, unless every inverter is named under inverters with transport: local" in str(
        refused.value
    )


async def test_a_broker_in_the_options_wins_and_the_supervisor_is_not_asked(tmp_path: Path) -> None:
    options = OPTIONS | {
        "mqtt_host": "192.0.2.10",
        "mqtt_port": 8883,
        "mqtt_username": "me",
        "mqtt_password": "pw",
    }
    config, asked = await start(tmp_path, options, BROKER)
    assert asked == 0
    assert (config["mqtt"]["host"], config["mqtt"]["port"], config["mqtt"]["username"]) == (
        "192.0.2.10",
        8883,
        "me",
    )


@pytest.mark.parametrize(
    ("options", "service", "token", "problem"),
    [
        (
            OPTIONS,
            None,
            TOKEN,
            "the Supervisor has none (HTTP 400): install the Mosquitto add-on, or fill in mqtt_host",
        ),
        (
            OPTIONS,
            BROKER,
            None,
            "no broker in the options, and no SUPERVISOR_TOKEN to ask the Supervisor for one",
        ),
        (OPTIONS, BROKER, "wrong", "the Supervisor has none (HTTP 401)"),
        (
            OPTIONS | {"cloud_username": ""},
            BROKER,
            TOKEN,
            "the options cannot be used: cloud.username: must not be empty",
        ),
        (
            OPTIONS | {"max_charge_current": 300},
            BROKER,
            TOKEN,
            "the options cannot be used: control.max_charge_current: must be at most 250",
        ),
    ],
)
async def test_options_that_cannot_work_are_refused_saying_why(
    tmp_path: Path, options: dict[str, Any], service: dict[str, Any] | None, token: str | None, problem: str
) -> None:
    with pytest.raises(AddonError) as refused:
        await start(tmp_path, options, service, token)
    assert problem in str(refused.value)
    assert "cloud-secret-7" not in str(refused.value)
    assert not (tmp_path / "config.yaml").exists()


def test_the_start_script_exits_2_with_a_sentence_when_it_cannot_start(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bridge.service.addon"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("eg4-bridge add-on: /data/options.json cannot be read")


#: The types an add-on option's schema may take (Home Assistant's add-on configuration rules).
SCHEMA_TYPE = re.compile(
    r"^(str|bool|email|url|password|port|int|float|device|int\(-?\d*,-?\d*\)|float\([-\d.]*,[-\d.]*\)"
    r"|match\(.+\)|list\([^()]+\))\??$"
)


def test_the_add_on_config_follows_the_add_on_rules() -> None:
    config = yaml.safe_load((ADDON / "config.yaml").read_text())
    for key in ("name", "version", "slug", "description", "arch"):
        assert config[key], key
    assert re.fullmatch(r"[a-z0-9_]+", config["slug"])
    assert config["version"] == __version__, "the add-on's version is the bridge's"
    assert set(config["arch"]) == {"amd64", "aarch64"}
    build = yaml.safe_load((ADDON / "build.yaml").read_text())
    assert set(build["build_from"]) == set(config["arch"])
    assert all(image.startswith("ghcr.io/home-assistant/") for image in build["build_from"].values())
    # Wanted, not needed: the options may name another broker.
    assert config["services"] == ["mqtt:want"]
    assert (config["ingress"], config["ingress_port"]) == (True, 9108)
    schema, options = config["schema"], config["options"]
    assert set(options) <= set(schema)
    for key, kind in schema.items():
        if isinstance(kind, list):  # a list of entries, each a mapping of its own options
            (entry,) = kind
            assert all(SCHEMA_TYPE.match(str(part)) for part in entry.values()), f"{key}: {entry}"
            assert options[key] == [], f"{key}: a list starts empty"
            continue
        assert SCHEMA_TYPE.match(str(kind)), f"{key}: {kind}"
        if not str(kind).endswith("?"):
            assert key in options, f"{key} is required, so it needs a default"
    assert schema["cloud_password"] == "password"
    assert schema["mqtt_password"] == "password?"
    translations = yaml.safe_load((ADDON / "translations" / "en.yaml").read_text())["configuration"]
    assert set(translations) == set(schema), "every option named and described"
    assert all(entry["name"] and entry["description"] for entry in translations.values())
    assert "Show in sidebar" in (ADDON / "DOCS.md").read_text()
    for name in ("DOCS.md", "CHANGELOG.md", "icon.png", "Dockerfile"):
        assert (ADDON / name).is_file(), name
    assert (ADDON / "icon.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    repository = yaml.safe_load((ROOT / "repository.yaml").read_text())
    assert repository["name"]


def test_the_add_on_image_builds_where_a_docker_daemon_runs() -> None:
    docker = shutil.which("docker")
    if (
        docker is None
        or subprocess.run([docker, "info"], capture_output=True, check=False, timeout=30).returncode
    ):
        pytest.skip("no Docker daemon here to build the add-on's image (the docker client alone cannot)")
    done = subprocess.run(
        [docker, "build", "--build-arg", "BUILD_FROM=ghcr.io/home-assistant/amd64-base-python:3.12-alpine3.20",
         "--build-arg", f"BUILD_VERSION={__version__}", str(ADDON)],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("[1, 2]", "the Supervisor answered a JSON list, not an object"),
        ('"ok"', "the Supervisor answered a JSON str, not an object"),
        ("null", "the Supervisor answered a JSON NoneType, not an object"),
        ("[" * 100_000, "is nested more than 32 levels deep"),
        ("{not json", "not valid JSON"),
    ],
)
async def test_a_supervisor_answer_of_the_wrong_shape_is_a_sentence_not_a_traceback(
    tmp_path: Path, raw: str, problem: str
) -> None:
    import asyncio

    options_path, config_path = tmp_path / "options.json", tmp_path / "config.yaml"
    options_path.write_text(json.dumps(OPTIONS))
    async with supervisor(BROKER, raw) as (_fake, url):
        with pytest.raises(AddonError) as refused:
            await asyncio.to_thread(write_config, options_path, config_path, url, TOKEN)
    assert problem in str(refused.value)
    assert not config_path.exists()


def test_the_staged_wheel_is_this_checkout_s_bridge() -> None:
    """The Supervisor builds the image from the add-on's folder alone: the wheel staged there must hold
    exactly this checkout's bridge, at the add-on's version (`bash eg4_mqtt_bridge/stage-wheel.sh`)."""
    import zipfile

    wheels = sorted((ADDON / "wheels").glob("eg4_mqtt_bridge-*.whl"))
    assert [wheel.name for wheel in wheels] == [f"eg4_mqtt_bridge-{__version__}-py3-none-any.whl"]
    with zipfile.ZipFile(wheels[0]) as wheel:
        staged = {name: wheel.read(name) for name in wheel.namelist() if name.startswith("bridge/")}
    here = {
        path.relative_to(ROOT).as_posix(): path.read_bytes()
        for path in (ROOT / "bridge").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    stale = sorted(name for name in here.keys() | staged.keys() if here.get(name) != staged.get(name))
    assert stale == [], "the staged wheel is stale: run bash eg4_mqtt_bridge/stage-wheel.sh"


def test_the_dockerfile_s_own_install_step_installs_the_staged_wheel(tmp_path: Path) -> None:
    """The Dockerfile's RUN line, run as written in a fresh environment with the staged wheels where the
    Dockerfile copies them: the bridge it installs is this one."""
    dockerfile = (ADDON / "Dockerfile").read_text()
    (copy,) = re.findall(r"^COPY wheels/ (\S+)$", dockerfile, flags=re.MULTILINE)
    (run,) = re.findall(r"^RUN (pip install .+)$", dockerfile, flags=re.MULTILINE)
    wheels = tmp_path / "wheels"
    shutil.copytree(ADDON / "wheels", wheels)
    command = run.replace(copy.rstrip("/"), str(wheels))
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True, timeout=120)
    environment = {"PATH": f"{tmp_path / 'venv' / 'bin'}:/usr/bin:/bin", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run(
        ["sh", "-c", command], env=environment, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert not wheels.exists(), "the step cleans up after itself"
    version = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "eg4-bridge"), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert version.stdout.strip() == f"eg4-bridge {__version__}"


async def test_rs485_adapters_become_modbus_ways_in_the_config(tmp_path: Path) -> None:
    options = OPTIONS | {
        "transport": "local",
        "adapters": [
            {"inverter_serial": "4512345600", "host": "192.168.1.60", "unit": 2},
            {"inverter_serial": "4512345601", "device": "/dev/ttyUSB0"},
        ],
    }
    config, _asked = await start(tmp_path, options, BROKER)
    assert config["inverters"]["4512345600"] == {"modbus": {"host": "192.168.1.60", "unit": 2}}
    assert config["inverters"]["4512345601"] == {"modbus": {"device": "/dev/ttyUSB0"}}
