"""The cloud client against the simulator over real HTTP: login, expiry, reads, writes and failures."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from bridge.core.catalogue import BATTERY_CHARGE_CURRENT, BATTERY_DISCHARGE_CURRENT
from bridge.core.errors import (
    AuthenticationError,
    MalformedResponseError,
    NotAllowedError,
    RefusedError,
    TransientError,
)
from bridge.simulator import RunningSimulator
from bridge.transports.cloud import CloudClient
from tests.harness import FAST_RETRY

pytestmark = pytest.mark.e2e

INVERTER = "4512345600"
SECOND = "4512345601"
GRIDBOSS = "4812345602"
LOGIN = "/WManage/api/login"
READ = "/WManage/web/maintain/remoteRead/read"
WRITE = "/WManage/web/maintain/remoteSet/write"
RUNTIME = "/WManage/api/inverter/getInverterRuntime"


async def test_login_discovers_every_device_of_the_plant(cloud: CloudClient) -> None:
    """Login returns inverters with model, type, firmware and parallel group; GridBOSS has no battery."""
    account = await cloud.login()
    devices = {device.serial: device for device in account.inverters}
    assert set(devices) == {INVERTER, SECOND, GRIDBOSS}
    assert (devices[INVERTER].model, devices[INVERTER].device_type) == ("18KPV", 6)
    assert devices[SECOND].model == "FlexBOSS21"
    assert devices[INVERTER].firmware == "fAAB-2122"
    assert devices[INVERTER].parallel_group == "A"
    assert devices[INVERTER].has_battery_parameters
    assert not devices[GRIDBOSS].has_battery_parameters
    assert devices[GRIDBOSS].parallel_group is None


async def test_wrong_password_raises_an_authentication_error_saying_so(simulator: RunningSimulator) -> None:
    """LOGIN_ERROR_DISMATCH is an authentication error that says the credentials were refused."""
    async with CloudClient(simulator.base_url, "demo", "wrong-secret", retry=FAST_RETRY) as client:
        with pytest.raises(AuthenticationError) as refused:
            await client.login()
    assert "refused the account name or password" in str(refused.value)
    assert "LOGIN_ERROR_DISMATCH" in str(refused.value)
    assert "wrong-secret" not in repr(refused.value)
    assert simulator.state.requests[LOGIN] == 1, "bad credentials must not be retried"


async def test_expired_session_shares_one_relogin_across_concurrent_requests(
    cloud: CloudClient, simulator: RunningSimulator
) -> None:
    """Twenty requests that all meet the login page cause exactly one new login, then all succeed."""
    await cloud.login()
    simulator.state.expire_sessions()
    runtimes = await asyncio.gather(*(cloud.get_runtime(INVERTER) for _ in range(20)))
    assert all(runtime.soc is not None for runtime in runtimes)
    assert simulator.state.requests[LOGIN] == 2
    assert simulator.state.requests[RUNTIME] == 40  # each request once before and once after the login


@pytest.mark.parametrize("expiry", ["login_page", "login_redirect", "http_401"])
async def test_each_form_of_expiry_leads_to_one_relogin_and_a_replay(
    cloud: CloudClient, simulator: RunningSimulator, expiry: str
) -> None:
    """The login page, a redirect to it, or 401: log in again once and replay the request once."""
    await cloud.login()
    simulator.state.faults.fail_next(expiry, endpoint="getInverterRuntime")
    runtime = await cloud.get_runtime(INVERTER)
    assert runtime.soc is not None
    assert simulator.state.requests[LOGIN] == 2
    assert simulator.state.requests[RUNTIME] == 2


async def test_sessions_expire_after_their_lifetime(simulator: RunningSimulator, cloud: CloudClient) -> None:
    """The simulator forgets a session after its lifetime; the client notices and logs in again."""
    simulator.state.session_lifetime = 0.2
    await cloud.login()
    await asyncio.sleep(0.3)
    await cloud.get_runtime(INVERTER)
    assert simulator.state.requests[LOGIN] == 2


async def test_an_unknown_serial_is_refused_with_the_cloud_text(cloud: CloudClient) -> None:
    with pytest.raises(RefusedError) as refused:
        await cloud.get_runtime("0000000000")
    assert refused.value.server_text == "apiBlocked"


async def test_a_session_refused_right_after_login_is_an_authentication_error(
    cloud: CloudClient, simulator: RunningSimulator
) -> None:
    """If the replay after a fresh login still meets the login page, it is not retried forever."""
    await cloud.login()
    simulator.state.faults.fail_next("login_page", 2, endpoint="getInverterRuntime")
    with pytest.raises(AuthenticationError, match="refused a session it had just opened"):
        await cloud.get_runtime(INVERTER)
    assert simulator.state.requests[LOGIN] == 2


async def test_three_windows_are_read_and_merged(cloud: CloudClient, simulator: RunningSimulator) -> None:
    """Parameters from registers 0-366 arrive in one mapping; both currents are in it, and only the names
    the settings read are kept (a window holds about 500)."""
    read = await cloud.read_parameters(INVERTER)
    assert read.complete
    assert read.values["HOLD_LEAD_ACID_CHARGE_RATE"] == "25"  # window 1, register 101
    assert read.values["HOLD_SYSTEM_CHARGE_SOC_LIMIT"] == "101"  # window 2, register 227
    assert "HOLD_EXPORT_LOCK_POWER" not in read.values  # window 3: read, but no setting reads it
    assert "HOLD_SERIAL_NUM" not in read.values
    assert read.values["HOLD_DEVICE_TYPE_CODE"] == "2092"  # what names the model is kept
    assert read.values["FUNC_AC_CHARGE"] is True
    assert "success" not in read.values
    assert "valueFrame" not in read.values
    assert simulator.state.requests[READ] == 3


async def test_a_failed_window_keeps_its_last_good_values_and_marks_the_read_incomplete(
    cloud: CloudClient, simulator: RunningSimulator
) -> None:
    """The first window fails after its retries and keeps its old values; the others are fresh."""
    await cloud.read_parameters(INVERTER)
    simulator.state.inverters[INVERTER].values["HOLD_LEAD_ACID_CHARGE_RATE"] = "90"  # window 0
    simulator.state.inverters[INVERTER].values["HOLD_SYSTEM_CHARGE_SOC_LIMIT"] = "95"  # window 127
    simulator.state.faults.fail_next(
        "http_500", FAST_RETRY.attempts, endpoint="remoteRead/read", start_register=0
    )
    with capture_logs() as logs:
        read = await cloud.read_parameters(INVERTER)
    assert not read.complete
    assert read.failed_windows == (0,)
    failed = [log for log in logs if log["event"] == "parameter_window_failed"]
    assert [(log["start"], log["log_level"]) for log in failed] == [(0, "warning")]
    assert read.values["HOLD_LEAD_ACID_CHARGE_RATE"] == "25"
    assert read.values["HOLD_SYSTEM_CHARGE_SOC_LIMIT"] == "95"


async def test_a_window_that_never_succeeded_leaves_its_values_missing(
    cloud: CloudClient, simulator: RunningSimulator
) -> None:
    """With no earlier good read, the failed window's parameters are absent, never invented."""
    simulator.state.faults.fail_next(
        "http_500", FAST_RETRY.attempts, endpoint="remoteRead/read", start_register=0
    )
    read = await cloud.read_parameters(INVERTER)
    assert read.failed_windows == (0,)
    assert "HOLD_LEAD_ACID_CHARGE_RATE" not in read.values
    assert read.values["HOLD_SYSTEM_CHARGE_SOC_LIMIT"] == "101"


async def test_a_read_where_every_window_fails_raises(
    cloud: CloudClient, simulator: RunningSimulator
) -> None:
    """Nothing read means an error, never an empty mapping."""
    simulator.state.set_offline(INVERTER)
    with capture_logs() as logs, pytest.raises(TransientError, match="DATAFRAME_TIMEOUT"):
        await cloud.read_parameters(INVERTER)
    # Said once, by whoever asked (a hybrid fill, the poller): not a line per window as well.
    assert [log for log in logs if log["event"] == "parameter_window_failed"] == []


async def test_write_then_read_back(cloud: CloudClient, simulator: RunningSimulator) -> None:
    """A written value is held by the simulator and read back, from its own register or a whole read."""
    assert await cloud.write_parameter(INVERTER, "HOLD_LEAD_ACID_CHARGE_RATE", "80") == 1
    assert await cloud.write_parameter(INVERTER, "HOLD_LEAD_ACID_DISCHARGE_RATE", "120") == 1
    assert simulator.state.value_of(INVERTER, "HOLD_LEAD_ACID_CHARGE_RATE") == "80"
    assert await cloud.read_window(INVERTER, 101, 1) == {"HOLD_LEAD_ACID_CHARGE_RATE": "80"}
    read = await cloud.read_parameters(INVERTER)
    assert (read.current(BATTERY_CHARGE_CURRENT), read.current(BATTERY_DISCHARGE_CURRENT)) == ("80", "120")
    assert simulator.state.writes == [
        (INVERTER, "HOLD_LEAD_ACID_CHARGE_RATE", "80"),
        (INVERTER, "HOLD_LEAD_ACID_DISCHARGE_RATE", "120"),
    ]


async def test_write_sends_the_documented_form(cloud: CloudClient, simulator: RunningSimulator) -> None:
    """The generic write goes to remoteSet/write; the cloud holds the text it was sent."""
    await cloud.write_parameter(INVERTER, "HOLD_AC_CHARGE_POWER_CMD", "5.5")
    assert simulator.state.value_of(INVERTER, "HOLD_AC_CHARGE_POWER_CMD") == "5.5"
    assert simulator.state.requests[WRITE] == 1


@pytest.mark.parametrize(
    ("hold_param", "value_text"),
    [
        ("HOLD_LEAD_ACID_CHARGE_RATE", "300"),
        ("HOLD_NOT_A_PARAMETER", "1"),
        ("HOLD_LEAD_ACID_CHARGE_RATE", "8.5"),
    ],
)
async def test_refused_writes_carry_the_cloud_text_verbatim(
    cloud: CloudClient, simulator: RunningSimulator, hold_param: str, value_text: str
) -> None:
    """Out-of-range and unknown-parameter writes raise RefusedError with REMOTE_SET_ERROR, once."""
    with pytest.raises(RefusedError) as refused:
        await cloud.write_parameter(INVERTER, hold_param, value_text)
    assert refused.value.server_text == "REMOTE_SET_ERROR"
    assert refused.value.serial == INVERTER
    assert simulator.state.requests[WRITE] == 1, "a refusal is final: no retry"
    assert simulator.state.writes == []


@pytest.mark.parametrize("fault", ["dataframe_timeout", "http_500"])
async def test_transient_errors_are_retried_then_succeed(
    cloud: CloudClient, simulator: RunningSimulator, fault: str
) -> None:
    """Two transient failures, then success: the caller sees only the success."""
    simulator.state.faults.fail_next(fault, 2, endpoint="getInverterRuntime")
    runtime = await cloud.get_runtime(INVERTER)
    assert runtime.soc is not None
    assert simulator.state.requests[RUNTIME] == 3


async def test_transient_errors_give_up_after_the_bounded_attempts(
    cloud: CloudClient, simulator: RunningSimulator
) -> None:
    """Persistent DATAFRAME_TIMEOUT ends in a TransientError that says how many attempts were made."""
    await cloud.login()
    simulator.state.faults.fail_next("dataframe_timeout", 10, endpoint="remoteSet/write")
    with pytest.raises(TransientError, match=r"DATAFRAME_TIMEOUT \(gave up after 3 attempts\)"):
        await cloud.write_parameter(INVERTER, "HOLD_LEAD_ACID_CHARGE_RATE", "80")
    assert simulator.state.requests[WRITE] == 3
    assert simulator.state.writes == []


async def test_unreachable_cloud_is_a_transient_error() -> None:
    """Connection refused is retried and then reported, not raised as an aiohttp internal."""
    from tests.harness import free_port

    async with CloudClient(f"http://127.0.0.1:{free_port()}", "demo", "demo", retry=FAST_RETRY) as client:
        with pytest.raises(
            TransientError, match=r"cannot reach the cloud at 127\.0\.0\.1:\d+: connection refused"
        ):
            await client.login()


async def test_slow_cloud_hits_the_request_timeout(simulator: RunningSimulator) -> None:
    simulator.state.faults.latency_ms = 300
    async with CloudClient(
        simulator.base_url, "demo", "demo", retry=FAST_RETRY, request_timeout=0.1
    ) as client:
        with pytest.raises(
            TransientError, match=r"no answer from the cloud within 0.1 s \(gave up after 3 attempts\)"
        ):
            await client.login()


async def test_offline_inverter_is_a_valid_answer(cloud: CloudClient, simulator: RunningSimulator) -> None:
    """lost: true with fields missing parses to an offline Runtime with no values, not an error."""
    simulator.state.set_offline(INVERTER)
    runtime = await cloud.get_runtime(INVERTER)
    assert not runtime.online
    assert runtime.status_text == "offline"
    assert (runtime.soc, runtime.battery_voltage, runtime.battery_power, runtime.pv_power) == (None,) * 4


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("html_error", "expected JSON, got an HTML page"),
        ("truncated_json", "answer is not valid JSON"),
        ("wrong_types", "runtime answer for 4512345600 has unexpected fields: soc"),
    ],
)
async def test_malformed_answers_give_a_clear_error(
    cloud: CloudClient, simulator: RunningSimulator, fault: str, message: str
) -> None:
    await cloud.login()
    simulator.state.faults.fail_next(fault, endpoint="getInverterRuntime")
    with pytest.raises(MalformedResponseError, match=message) as malformed:
        await cloud.get_runtime(INVERTER)
    assert malformed.value.serial == INVERTER


async def test_a_window_with_wrong_types_is_malformed(
    cloud: CloudClient, simulator: RunningSimulator
) -> None:
    await cloud.login()
    simulator.state.faults.fail_next("wrong_types", endpoint="remoteRead/read")
    with pytest.raises(MalformedResponseError, match="is for 5, but 4512345600 was asked for"):
        await cloud.read_window(INVERTER, 0, 127)


async def test_a_malformed_login_answer_is_a_clear_error(
    cloud: CloudClient, simulator: RunningSimulator
) -> None:
    simulator.state.faults.fail_next("wrong_types", endpoint="api/login")
    with pytest.raises(MalformedResponseError, match="login answer has unexpected fields"):
        await cloud.login()


async def test_requests_per_account_are_bounded(simulator: RunningSimulator) -> None:
    """With a limit of 2, the simulator never sees more than 2 requests of the account at once."""
    simulator.state.faults.latency_ms = 30
    async with CloudClient(simulator.base_url, "demo", "demo", concurrency=2, retry=FAST_RETRY) as client:
        await client.login()
        await asyncio.gather(*(client.get_runtime(INVERTER) for _ in range(8)))
    assert simulator.state.peak_in_flight == 2


async def test_every_cloud_request_is_logged_at_debug_without_a_secret(cloud: CloudClient) -> None:
    """`--log-level DEBUG` shows each request: endpoint, serial, outcome and duration; never the password."""
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        inverters = await cloud.inverters()
        await cloud.get_runtime(inverters[0].serial)
    requests = [entry for entry in logs if entry["event"] == "cloud_request"]
    assert {entry["endpoint"] for entry in requests} >= {"api/login", "inverter/getInverterRuntime"}
    runtime = next(entry for entry in requests if entry["endpoint"] == "inverter/getInverterRuntime")
    assert (runtime["serial"], runtime["outcome"], runtime["log_level"]) == (
        inverters[0].serial,
        "ok",
        "debug",
    )
    assert runtime["seconds"] >= 0
    assert "demo" not in repr([entry for entry in requests if entry["endpoint"] == "api/login"])


EVENTS = "/WManage/api/analyze/event/list"


async def test_the_newest_event_is_read_one_row_at_a_time(
    cloud: CloudClient, simulator: RunningSimulator
) -> None:
    """An empty log is no event; after two events, the newer one, still ongoing, then ended."""
    assert await cloud.get_last_event(INVERTER) is None
    simulator.state.raise_event(INVERTER, "E019", "Bus voltage high")
    simulator.state.raise_event(INVERTER, "W018", "Grid frequency abnormality", "WARNING")
    newest = await cloud.get_last_event(INVERTER)
    assert newest is not None
    assert (newest.code, newest.text, newest.type, newest.ongoing, newest.end) == (
        "W018",
        "Grid frequency abnormality",
        "WARNING",
        True,
        None,
    )
    simulator.state.close_event(INVERTER, "W018")
    ended = await cloud.get_last_event(INVERTER)
    assert ended is not None
    assert (ended.record_id, ended.ongoing, ended.status) == (newest.record_id, False, "CLOSE")
    assert ended.end is not None
    assert await cloud.get_last_event(SECOND) is None, "each inverter's own log"
    assert simulator.state.requests[EVENTS] == 4


async def test_a_refused_event_log_is_not_allowed_in_the_clouds_words(
    cloud: CloudClient, simulator: RunningSimulator
) -> None:
    """`success: false` on the log is `NotAllowedError` (the sensor is then not offered), asked once: a
    refusal does not pass on retry."""
    simulator.state.faults.events_refusal = "permissionDenied"
    with pytest.raises(NotAllowedError) as refused:
        await cloud.get_last_event(INVERTER)
    assert (refused.value.server_text, refused.value.serial) == ("permissionDenied", INVERTER)
    assert simulator.state.requests[EVENTS] == 1


async def test_a_malformed_event_log_is_a_clear_error(
    cloud: CloudClient, simulator: RunningSimulator
) -> None:
    await cloud.login()
    simulator.state.faults.fail_next("wrong_types", endpoint="event/list")
    with pytest.raises(
        MalformedResponseError, match="event log answer for 4512345600 has unexpected fields: total"
    ):
        await cloud.get_last_event(INVERTER)
