"""The config file: validated before any I/O, every problem named by its key, secrets never shown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bridge.core.errors import ConfigError
from bridge.service.config_file import load_settings

pytestmark = pytest.mark.e2e

REPOSITORY = Path(__file__).parents[2]
GOOD = """
cloud:
  base_url: https://monitor.eg4electronics.com
  username: owner@example.com
  password: hunter2-secret
mqtt:
  host: 127.0.0.1
  port: 1883
  base_topic: eg4
  discovery_prefix: homeassistant
polling:
  runtime_seconds: 60
  parameters_seconds: 300
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge.service.cli", "check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_example_config_is_valid(tmp_path: Path) -> None:
    """config.example.yaml, as shipped, passes check-config."""
    done = check_config(REPOSITORY / "config.example.yaml")
    assert done.returncode == 0, done.stderr
    assert "valid" in done.stdout


def test_a_good_file_passes_and_keeps_the_password_secret(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD), environ={})
    assert settings.cloud is not None
    assert settings.cloud.password.get_secret_value() == "hunter2-secret"
    assert "hunter2-secret" not in repr(settings)
    assert settings.mqtt.base_topic == "eg4"
    path = write(tmp_path, GOOD)
    path.chmod(0o600)
    done = check_config(path)
    assert (done.returncode, done.stderr) == (0, "")
    assert "hunter2-secret" not in done.stdout


def test_a_bad_file_exits_2_with_one_line_per_problem_naming_the_key(tmp_path: Path) -> None:
    bad = """
cloud:
  username: owner@example.com
  base_url: ftp://nowhere
mqtt:
  port: 70000
  base_topic: "eg4/#"
  colour: blue
polling:
  runtime_seconds: soon
"""
    done = check_config(write(tmp_path, bad))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    path = tmp_path / "config.yaml"
    assert sorted(lines) == sorted(
        [
            f"{path}: cloud.base_url: must be an https:// URL, such as https://monitor.eg4electronics.com",
            f"{path}: cloud.password: required (in the file, or in the environment variable EG4_CLOUD_PASSWORD)",
            f"{path}: mqtt.port: must be at most 65535",
            f"{path}: mqtt.base_topic: must be a topic without wildcards (+, #), spaces, or a leading or trailing /",
            f"{path}: mqtt.colour: unknown key",
            f"{path}: polling.runtime_seconds: must be a number",
        ]
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("cloud: [1, 2", "not valid YAML"),
        ("- just\n- a list\n", "the top level must be a mapping"),
        ("", "cloud: required"),
    ],
)
def test_broken_files_are_named(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(write(tmp_path, text), environ={})
    assert problem in str(refused.value)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    done = check_config(tmp_path / "absent.yaml")
    assert done.returncode == 2
    assert "absent.yaml: cannot be read (No such file or directory)" in done.stderr


def test_passwords_can_come_from_the_environment(tmp_path: Path) -> None:
    text = "cloud:\n  username: owner@example.com\nmqtt:\n  username: bridge\n"
    settings = load_settings(
        write(tmp_path, text), environ={"EG4_CLOUD_PASSWORD": "from-env", "EG4_MQTT_PASSWORD": "mqtt-env"}
    )
    assert settings.cloud is not None
    assert settings.cloud.password.get_secret_value() == "from-env"
    assert settings.mqtt.password is not None
    assert settings.mqtt.password.get_secret_value() == "mqtt-env"


def test_a_wrong_typed_secret_does_not_echo_its_value(tmp_path: Path) -> None:
    text = "cloud:\n  username: owner\n  password: [hunter2-secret]\n"
    with pytest.raises(ConfigError) as refused:
        load_settings(write(tmp_path, text), environ={})
    assert "hunter2-secret" not in str(refused.value)
    assert "cloud.password" in str(refused.value)


def test_a_world_readable_file_holding_a_password_is_warned_about(tmp_path: Path) -> None:
    """Still valid (exit 0), but the owner is told to protect it, and the password is not shown."""
    path = write(tmp_path, GOOD)
    path.chmod(0o644)
    done = check_config(path)
    assert done.returncode == 0
    assert done.stderr == (
        f"warning: {path} holds a password and other users may read it: move the password to "
        "EG4_CLOUD_PASSWORD / EG4_MQTT_PASSWORD (with systemd, in /etc/eg4-bridge/secrets.env, mode 600: "
        "the unit's DynamicUser cannot read a config only root may), or chmod 600 the file when the "
        "bridge runs as its owner\n"
    )
    without_password = write(tmp_path, "cloud:\n  username: owner\n")
    without_password.chmod(0o644)
    assert "warning" not in check_config(without_password).stderr


def test_certificate_checks_may_be_turned_off_only_for_a_local_simulator(tmp_path: Path) -> None:
    local = (
        "cloud:\n  base_url: http://127.0.0.1:8085\n  username: demo\n  password: demo\n  verify_tls: false\n"
    )
    local_cloud = load_settings(write(tmp_path, local), environ={}).cloud
    assert local_cloud is not None
    assert not local_cloud.verify_tls
    remote = local.replace("http://127.0.0.1:8085", "https://monitor.eg4electronics.com")
    with pytest.raises(
        ConfigError, match=r"^cloud\.verify_tls: false is allowed only for a simulator on this machine"
    ):
        load_settings(write(tmp_path, remote), environ={})


def test_tls_files_must_exist_and_pair(tmp_path: Path) -> None:
    missing_ca = (
        "cloud: {username: owner, password: x}\nmqtt:\n  tls: {enabled: true, ca_file: /nonexistent/ca.pem}\n"
    )
    with pytest.raises(ConfigError, match=r"mqtt\.tls: ca_file /nonexistent/ca\.pem is not a readable file"):
        load_settings(write(tmp_path, missing_ca), environ={})
    lone_cert = (
        "cloud: {username: owner, password: x}\nmqtt:\n  tls: {enabled: true, cert_file: /etc/hostname}\n"
    )
    with pytest.raises(ConfigError, match=r"mqtt\.tls: cert_file and key_file go together"):
        load_settings(write(tmp_path, lone_cert), environ={})


def test_check_config_refuses_serials_that_cannot_be_an_inverters(tmp_path: Path) -> None:
    text = GOOD + "inverters:\n  '451234560': {max_charge_current: 50}\n  'ab-cdefghi': {}\n  default: {}\n"
    path = write(tmp_path, text)
    path.chmod(0o600)
    done = check_config(path)
    assert done.returncode == 2
    assert done.stderr == (
        f"{path}: inverters: '451234560', 'ab-cdefghi': a serial is 10 letters and digits (as on the "
        "inverter's label and in the cloud), or `default`\n"
    )


def test_an_unquoted_serial_that_yaml_reads_as_another_number_must_be_quoted(tmp_path: Path) -> None:
    """`0123456701` unquoted is octal to YAML: 21913025, the limit meant for the inverter applied to none."""
    path = write(tmp_path, GOOD + "inverters:\n  0123456701: {max_charge_current: 50}\n  4512345600: {}\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(path, environ={})
    assert refused.value.problems == [
        "inverters.0123456701: YAML reads this unquoted serial as the number 21913025; quote it: '0123456701'"
    ]
    quoted = write(
        tmp_path, GOOD + "inverters:\n  '0123456701': {max_charge_current: 50}\n  4512345600: {}\n"
    )
    assert set(load_settings(quoted, environ={}).inverters) == {"0123456701", "4512345600"}


@pytest.mark.parametrize("section", ["inverters:\n  default", "control"])
def test_a_limit_that_is_not_a_number_is_refused(tmp_path: Path, section: str) -> None:
    """`true` would be read as 1 A by Python: refused, as is any non-integer."""
    with pytest.raises(
        ConfigError, match=r"max_charge_current: must be a whole number of amperes, such as 100"
    ):
        load_settings(write(tmp_path, GOOD + f"{section}:\n    max_charge_current: true\n"), environ={})


def test_limits_fall_back_from_the_inverter_to_default_to_control(tmp_path: Path) -> None:
    text = GOOD + (
        "control:\n  max_charge_current: 100\n  max_discharge_current: 90\n"
        "inverters:\n  default: {max_discharge_current: 80}\n  '4512345600': {max_charge_current: 60}\n"
    )
    settings = load_settings(write(tmp_path, text), environ={})
    own = settings.limits_for("4512345600")
    other = settings.limits_for("4512345601")
    assert (own.max_charge_current, own.max_discharge_current) == (60, 80)
    assert (other.max_charge_current, other.max_discharge_current) == (100, 80)
    assert (
        load_settings(write(tmp_path, GOOD), environ={}).limits_for("4512345600").max_charge_current is None
    )


def test_an_environment_variables_bad_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(write(tmp_path, GOOD), environ={"EG4_HEALTH_ENABLED": "maybe"})
    assert refused.value.problems == [
        "health.enabled (from the environment variable EG4_HEALTH_ENABLED): must be true or false"
    ]


def test_an_unknown_key_suggests_the_nearest_known_one(tmp_path: Path) -> None:
    text = GOOD.replace("  port: 1883", "  prot: 1883") + "control:\n  read_onyl: true\n  zzz: 1\n"
    with pytest.raises(ConfigError) as refused:
        load_settings(write(tmp_path, text), environ={})
    assert sorted(refused.value.problems) == [
        "control.read_onyl: unknown key; did you mean control.read_only?",
        "control.zzz: unknown key",
        "mqtt.prot: unknown key; did you mean mqtt.port?",
    ]


def test_the_log_level_is_read_in_any_case(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, GOOD + "log_level: debug\n"), environ={}).log_level == "DEBUG"


def test_check_config_warns_of_placeholders_and_polling_faster_than_the_cloud_allows(tmp_path: Path) -> None:
    text = GOOD.replace("owner@example.com", "you@example.com").replace(
        "runtime_seconds: 60", "runtime_seconds: 5"
    )
    path = write(tmp_path, text)
    path.chmod(0o600)
    done = check_config(path)
    assert done.returncode == 0
    assert done.stderr == (
        "warning: polling.runtime_seconds is 5: faster than the cloud allows (it asks for 30 s or more); use "
        "such values only with the simulator\n"
        "warning: cloud.username or cloud.password is still the example's placeholder: put in your own account\n"
    )


def test_every_option_of_every_command_says_what_it_does() -> None:
    from argparse import _SubParsersAction

    from bridge.service.cli import _parser

    parser = _parser()
    commands = next(action for action in parser._actions if isinstance(action, _SubParsersAction))
    for name, command in [("eg4-bridge", parser), *commands.choices.items()]:
        for action in command._actions:
            if action.dest != "help" and not isinstance(action, _SubParsersAction):
                assert len(action.help or "") > 10, f"{name} {action.option_strings}"
        text = command.format_help()
        if name == "demo":
            assert "(default: eg4demo)" in text, "defaults are shown"


def test_fast_polling_of_a_simulator_on_this_machine_is_no_mistake() -> None:
    from bridge.service.config_file import settings_from_mapping, settings_warnings

    local = settings_from_mapping(
        {"cloud": {"base_url": "http://127.0.0.1:8085", "username": "demo", "password": "demo"},
         "polling": {"runtime_seconds": 1}},
        environ={},
    )  # fmt: skip
    assert settings_warnings(local) == []


LOCAL_ONLY = """
transport: local
mqtt: {host: 127.0.0.1}
inverters:
  "4512345600":
    dongle: {host: 192.168.1.50, serial: BA12345600}
"""


def test_a_local_only_file_needs_no_cloud_account(tmp_path: Path) -> None:
    done = check_config(write(tmp_path, LOCAL_ONLY))
    assert done.returncode == 0, done.stderr
    assert "no cloud, dongles only" in done.stdout
    settings = load_settings(write(tmp_path, LOCAL_ONLY), environ={})
    assert settings.cloud is None
    dongle = settings.dongles["4512345600"]
    assert (dongle.host, dongle.port, dongle.timeout_seconds) == ("192.168.1.50", 8000, 3.0)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            'transport: local\ninverters: {"4512345600": {transport: local}}\n',
            "inverters.4512345600.dongle: transport local needs the dongle's host and serial",
            id="local without a dongle",
        ),
        pytest.param(
            'transport: hybrid\ninverters: {"4512345600": {dongle: {host: h, serial: BA12345600}}}\n',
            "cloud: required, unless every inverter is named under inverters with transport: local",
            id="hybrid without a cloud",
        ),
        pytest.param(
            "transport: local\n",
            "cloud: required, unless every inverter is named",
            id="local naming no inverter",
        ),
        pytest.param(
            LOCAL_ONLY + "  default: {dongle: {host: h, serial: BA12345600}}\n",
            "inverters.default.dongle: a dongle or adapter belongs to one inverter",
            id="a dongle for every inverter",
        ),
        pytest.param(
            LOCAL_ONLY.replace("BA12345600", "BA-1"),
            "inverters.4512345600.dongle.serial",
            id="a malformed dongle serial",
        ),
        pytest.param(
            LOCAL_ONLY.replace("local\n", "lan\n", 1),
            "transport: must be one of 'cloud', 'local', 'hybrid'",
            id="an unknown transport",
        ),
    ],
)
def test_transports_and_dongles_are_checked(tmp_path: Path, text: str, problem: str) -> None:
    done = check_config(write(tmp_path, text))
    assert done.returncode == 2
    assert problem in done.stderr, done.stderr


def test_each_inverter_takes_its_own_transport_or_the_default(tmp_path: Path) -> None:
    text = GOOD + (
        "transport: hybrid\n"
        "inverters:\n"
        '  "4512345600": {dongle: {host: 10.0.0.2, serial: BA12345600}}\n'
        '  "4512345601": {transport: cloud, dongle: {host: 10.0.0.3, serial: BA12345601}}\n'
        '  "4512345602": {transport: cloud}\n'
    )
    settings = load_settings(write(tmp_path, text), environ={})
    assert [settings.configured_mode(serial) for serial in ("4512345600", "4512345601", "4512345602")] == [
        "hybrid",
        "cloud",
        "cloud",
    ]
    assert list(settings.dongles) == ["4512345600"]  # a dongle named for a cloud inverter is not used


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            GOOD.replace("https://monitor", "http://monitor"),
            "cloud.base_url: must be https:// (http:// would send the cloud password in clear text)",
            id="an http:// cloud address",
        ),
        pytest.param(
            GOOD + "transport: hybrid\n",
            "transport: hybrid needs at least one inverter with its dongle under inverters",
            id="hybrid with no way in but the cloud",
        ),
        pytest.param(
            GOOD + "inverters:\n  default:\n    limits: {ac_charge_power: {max: 40}}\n",
            "ac_charge_power.max: 40 kW lies outside the setting's own range, 0 to 15 kW",
            id="a limit outside the setting's range",
        ),
        pytest.param(
            GOOD + "control:\n  max_charge_current: 100\n  read_only: false\n  max_charge_current: 200\n",
            "the key 'max_charge_current' is given twice in one section",
            id="a key given twice",
        ),
    ],
)
def test_config_mistakes_that_passed_silently_are_refused(tmp_path: Path, text: str, problem: str) -> None:
    done = check_config(write(tmp_path, text))
    assert done.returncode == 2, done.stdout
    assert problem in done.stderr, done.stderr
    assert "hunter2-secret" not in done.stderr


def test_http_is_allowed_for_a_simulator_on_this_machine(tmp_path: Path) -> None:
    text = GOOD.replace("https://monitor.eg4electronics.com", "http://127.0.0.1:8085")
    assert load_settings(write(tmp_path, text), environ={}).cloud is not None


def test_a_config_yaml_in_the_checkout_is_never_committed() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "config.yaml"], cwd=REPOSITORY, check=False, capture_output=True
    )
    assert ignored.returncode == 0


def test_a_modbus_adapter_is_a_local_way_and_not_beside_a_dongle(tmp_path: Path) -> None:
    adapter = 'transport: local\ninverters:\n  "4512345600":\n    modbus: {host: 192.168.1.60}\n'
    settings = load_settings(write(tmp_path, adapter), environ={})
    way = settings.local_transports["4512345600"]
    assert (getattr(way, "port", None), getattr(way, "unit", None)) == (502, 1)
    both = adapter + "    dongle: {host: 192.168.1.50, serial: BA12345600}\n"
    done = check_config(write(tmp_path, both))
    assert done.returncode == 2
    assert "a dongle or a Modbus adapter, not both" in done.stderr
