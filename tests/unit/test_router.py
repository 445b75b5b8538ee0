"""The router (`Router._route`), table-driven: for each routing mode, whether the dongle has the setting's
register, whether the dongle is resting, the kind of dongle failure and whether the request was a write,
which transport answers or which error comes back, and whether the cloud was asked. The transports are
handed in as fakes: the dongle's answer is a callable, the cloud's a counted callable; nothing touches a
socket."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from structlog.testing import capture_logs

from bridge.core.catalogue import ENERGY_SENSORS, SENSORS, setting_by_key
from bridge.core.config import Settings
from bridge.core.errors import (
    NoTransportError,
    OutcomeUnknownError,
    RefusedError,
    TransientError,
    TransportError,
    ValueUnreadable,
)
from bridge.core.kinds import Setting
from bridge.core.readings import DEVICE_TYPE_CODE, POWER_RATING, UNIDENTIFIED_MODEL, InverterInfo
from bridge.core.writes import Delivery
from bridge.transports.cloud import CloudClient
from bridge.transports.local import registers
from bridge.transports.local.dongle import (
    DongleConnection,
    LocalDroppedError,
    LocalSilentError,
    LocalTransportError,
    LocalUnreachableError,
    ModbusExceptionError,
)
from bridge.transports.local.modbus import ModbusConnection
from bridge.transports.router import (
    LOCAL_SENSORS,
    RegisterConnection,
    RegisterTransport,
    Router,
    register_transports,
    sensors_given_locally,
)
from tests.unit.fakes import FakeClock, FakeCloud, FakeRegisters

pytestmark = pytest.mark.unit

SERIAL = "4512345600"
DONGLE = {"host": "192.0.2.1", "serial": "BA12345600", "rest_seconds": 60}

#: The dongle's failures: unreachable (nothing sent), silent before sending (a read), silent after a write
#: went out, dropped mid-request, a Modbus exception reply.
FAILURES: dict[str, LocalTransportError] = {
    "unreachable": LocalUnreachableError("cannot connect", sent=False),
    "silent, not sent": LocalSilentError("did not answer", sent=False),
    "silent, sent": LocalSilentError("did not answer", sent=True),
    "dropped, sent": LocalDroppedError("closed before it answered", sent=True),
    "exception": ModbusExceptionError("the inverter refused the request (Modbus exception 4)", 4),
}


@dataclass
class CloudCalls:
    count: int = 0
    fail_with: TransportError | None = None

    async def call(self, cloud: Any) -> str:
        self.count += 1
        if self.fail_with is not None:
            raise self.fail_with
        return "from the cloud"


@dataclass
class Rig:
    router: Router
    clock: FakeClock
    cloud: CloudCalls = field(default_factory=CloudCalls)

    async def route(
        self, dongle: str | LocalTransportError, *, writing: bool = False, local_has_it: bool = True
    ) -> tuple[str, str]:
        async def local(way: RegisterTransport) -> str:
            if isinstance(dongle, LocalTransportError):
                raise dongle
            return dongle

        return await self.router._route(  # the router itself, as the poller and the queue reach it
            SERIAL, local, self.cloud.call, writing=writing, local_has_it=local_has_it
        )


def rig(mode: str, *, with_cloud: bool = True) -> Rig:
    document: dict[str, Any] = {
        "transport": mode,
        "inverters": {SERIAL: {"dongle": DONGLE} if mode != "cloud" else {}},
    }
    if with_cloud:
        document["cloud"] = {"username": "someone", "password": "secret"}
    settings = Settings.model_validate(document)
    clock = FakeClock()
    cloud = cast(CloudClient, object()) if with_cloud else None  # the cloud calls are the fakes above
    dongle = RegisterTransport(SERIAL, cast(RegisterConnection, object()), rest=60)
    local = {SERIAL: dongle} if mode != "cloud" else {}
    return Rig(Router(cloud, local, settings, clock), clock)


async def test_cloud_mode_always_asks_the_cloud() -> None:
    r = rig("cloud")
    assert await r.route("from the dongle") == ("from the cloud", "cloud")
    assert r.cloud.count == 1


@pytest.mark.parametrize("mode", ["local", "hybrid"])
async def test_a_dongle_that_answers_answers(mode: str) -> None:
    r = rig(mode)
    assert await r.route("from the dongle") == ("from the dongle", "dongle")
    assert r.cloud.count == 0


async def test_hybrid_asks_the_cloud_for_a_setting_with_no_register() -> None:
    r = rig("hybrid")
    assert await r.route("from the dongle", local_has_it=False) == ("from the cloud", "cloud")


# Every failure, for a read and for a write, in local and in hybrid: (expected error kind or "cloud").
TABLE = [
    # mode, failure, writing, what comes of it
    ("local", "unreachable", False, TransientError),
    ("local", "silent, not sent", False, TransientError),
    ("local", "silent, sent", False, TransientError),
    ("local", "dropped, sent", False, TransientError),
    ("local", "exception", False, RefusedError),
    ("local", "unreachable", True, TransientError),
    ("local", "silent, sent", True, OutcomeUnknownError),
    ("local", "dropped, sent", True, OutcomeUnknownError),
    ("local", "exception", True, RefusedError),
    ("hybrid", "unreachable", False, "cloud"),
    ("hybrid", "silent, not sent", False, "cloud"),
    ("hybrid", "silent, sent", False, "cloud"),  # a read may be asked again elsewhere
    ("hybrid", "dropped, sent", False, "cloud"),
    ("hybrid", "exception", False, RefusedError),  # the inverter said no: the cloud would hear the same
    ("hybrid", "unreachable", True, "cloud"),  # nothing was sent: safe to send elsewhere
    ("hybrid", "silent, not sent", True, "cloud"),
    ("hybrid", "silent, sent", True, OutcomeUnknownError),  # may have landed: never sent again
    ("hybrid", "dropped, sent", True, OutcomeUnknownError),
    ("hybrid", "exception", True, RefusedError),
]


@pytest.mark.parametrize(("mode", "failure", "writing", "expected"), TABLE)
async def test_each_failure_of_the_dongle(mode: str, failure: str, writing: bool, expected: object) -> None:
    r = rig(mode)
    if expected == "cloud":
        assert await r.route(FAILURES[failure], writing=writing) == ("from the cloud", "cloud")
        assert r.cloud.count == 1
        return
    assert isinstance(expected, type)
    with pytest.raises(expected) as raised:
        await r.route(FAILURES[failure], writing=writing)
    assert type(raised.value) is expected
    assert isinstance(raised.value, TransportError)
    assert (raised.value.via, raised.value.serial) == ("dongle", SERIAL)
    assert raised.value.message == FAILURES[failure].message
    if isinstance(raised.value, TransientError):
        assert raised.value.maybe_delivered is FAILURES[failure].sent
    assert r.cloud.count == 0, "nothing went to the cloud"


async def test_hybrid_rests_the_dongle_after_a_failure_then_tries_it_again() -> None:
    r = rig("hybrid")
    with capture_logs() as logs:
        assert await r.route(FAILURES["unreachable"]) == ("from the cloud", "cloud")
    assert logs == [
        {
            "event": "local_transport_failed_cloud_asked_instead",
            "log_level": "warning",
            "serial": SERIAL,
            "via": "dongle",
            "error": "cannot connect",
        }
    ]
    assert await r.route("from the dongle") == ("from the cloud", "cloud"), "resting: straight to the cloud"
    await r.clock.advance(59)
    assert await r.route("from the dongle") == ("from the cloud", "cloud")
    await r.clock.advance(1)
    assert await r.route("from the dongle") == ("from the dongle", "dongle"), "60 s on: asked again"
    assert r.cloud.count == 3


async def test_local_with_no_cloud_account_says_the_dongle_failed() -> None:
    r = rig("local", with_cloud=False)
    with pytest.raises(TransientError) as raised:
        await r.route(FAILURES["unreachable"])
    assert (raised.value.message, raised.value.via) == ("cannot connect", "dongle")


async def test_a_cloud_failure_after_a_fallback_says_it_came_from_the_cloud() -> None:
    r = rig("hybrid")
    r.cloud.fail_with = TransientError("DATAFRAME_TIMEOUT")
    with pytest.raises(TransientError) as raised:
        await r.route(FAILURES["unreachable"])
    assert raised.value.via == "cloud"


async def test_no_transport_at_all_is_said_so() -> None:
    settings = Settings.model_validate({"transport": "local", "inverters": {SERIAL: {"dongle": DONGLE}}})
    r = Rig(Router(None, {}, settings, FakeClock()), FakeClock())  # no cloud, and no register transport
    with pytest.raises(NoTransportError, match="no transport reaches 4512345600: no cloud account, and no"):
        await r.route("from the dongle")


# -- through the router's own transports: an inverter's registers behind its dongle, and the cloud's client --

CLOUD_ACCOUNT = {"username": "someone", "password": "secret"}


def setting(key: str) -> Setting:
    found = setting_by_key(key)
    assert found is not None, key
    return found


AC_CHARGE = setting("ac_charge_enabled")  # FUNC_AC_CHARGE: bit 7 of register 21, beside other flags
AC_CHARGE_WINDOW = setting("ac_charge_window_1")  # registers 68 (start) and 69 (end): hour low, minute high
AC_CHARGE_TYPE = setting("ac_charge_type")  # BIT_AC_CHARGE_TYPE: no register, the cloud's alone
AC_CHARGE_POWER = setting("ac_charge_power")  # register 66, in tenths of a kW
CHARGE_CURRENT = setting("battery_charge_current")  # register 101


@dataclass
class Routed:
    router: Router
    registers: FakeRegisters
    cloud: FakeCloud
    clock: FakeClock


def routed(mode: str, *, max_block: int = 40) -> Routed:
    own = {"dongle": DONGLE} if mode != "cloud" else {}
    settings = Settings.model_validate(
        {"transport": mode, "inverters": {SERIAL: own}, "cloud": CLOUD_ACCOUNT}
    )
    registers, cloud, clock = FakeRegisters(SERIAL), FakeCloud(), FakeClock()
    way = RegisterTransport(SERIAL, registers, max_block, rest=60)
    return Routed(Router(cast(CloudClient, cloud), {SERIAL: way}, settings, clock), registers, cloud, clock)


def writes(connection: FakeRegisters) -> list[tuple[str, int, int]]:
    return [request for request in connection.requests if request[0] == "write"]


#: The holding registers a settings read covers: every setting's, and the inverter's identity.
#: What a settings read reads of an inverter whose family is not known (the fakes' register 19 names none).
SETTINGS_REGISTERS = registers.holding_registers(tuple(registers.HOLDING)) + registers.IDENTITY_REGISTERS


def reads(kind: str, wanted: tuple[int, ...], block: int) -> list[tuple[str, int, int]]:
    """The reads covering `wanted` in blocks of at most `block` registers, as `FakeRegisters` records them."""
    return [(kind, start, count) for start, count in registers.blocks(wanted, block)]


async def test_a_flag_is_read_from_its_bit_and_written_with_its_neighbours_kept() -> None:
    r = routed("local")
    r.registers.holding[21] = 0b1000_0000_0000_0001  # EPS and feed-in on, AC charge off
    assert await r.router.read(SERIAL, AC_CHARGE) == "OFF"
    assert await r.router.write(SERIAL, AC_CHARGE, "ON") == Delivery(1, "dongle")
    assert r.registers.requests == [
        ("read holding", 21, 1),
        ("read holding", 21, 1),  # afresh before writing: the other flags may have changed
        ("write", 21, 0b1000_0000_1000_0001),
    ]
    assert r.cloud.calls == []


async def test_a_value_that_fills_its_register_alone_is_written_without_reading_it_first() -> None:
    r = routed("local")
    r.registers.holding[101] = 40
    assert await r.router.write(SERIAL, CHARGE_CURRENT, "80") == Delivery(1, "dongle")
    assert r.registers.requests == [("write", 101, 80)], "one exchange: no neighbour to keep"
    assert await r.router.read(SERIAL, CHARGE_CURRENT) == "80"


async def test_a_window_is_written_one_register_at_a_time_its_start_first() -> None:
    r = routed("local")
    assert await r.router.write(SERIAL, AC_CHARGE_WINDOW, "01:30-05:45") == Delivery(2, "dongle")
    assert r.registers.requests == [
        ("read holding", 68, 2),
        ("write", 68, 30 << 8 | 1),
        ("write", 69, 45 << 8 | 5),
    ]
    assert await r.router.read(SERIAL, AC_CHARGE_WINDOW) == "01:30-05:45"


@pytest.mark.parametrize("mode", ["local", "hybrid"])
async def test_a_write_the_dongle_took_and_never_answered_is_not_sent_again_anywhere(mode: str) -> None:
    r = routed(mode)
    r.registers.failures = [LocalSilentError("did not answer", sent=True)]  # the write: nothing read first
    with pytest.raises(OutcomeUnknownError) as unknown:
        await r.router.write(SERIAL, CHARGE_CURRENT, "80")
    assert (unknown.value.message, unknown.value.via) == ("did not answer", "dongle")
    assert writes(r.registers) == [("write", 101, 80)], "sent once"
    assert r.cloud.calls == [], "never sent through the cloud: it may have landed"


@pytest.mark.parametrize(
    "failure",
    [LocalSilentError("did not answer", sent=True), LocalUnreachableError("cannot connect", sent=False)],
    ids=["silent", "unreachable"],
)
async def test_a_flag_write_whose_first_read_fails_was_never_written(failure: LocalTransportError) -> None:
    local, hybrid = routed("local"), routed("hybrid")
    local.registers.failures, hybrid.registers.failures = [failure], [failure]
    with pytest.raises(TransientError) as failed:
        await local.router.write(SERIAL, AC_CHARGE, "ON")
    assert failed.value.message == f"{failure.message}; nothing was written"
    assert (failed.value.maybe_delivered, failed.value.via) == (False, "dongle")
    assert await hybrid.router.write(SERIAL, AC_CHARGE, "ON") == Delivery(1, "cloud"), "safe elsewhere"
    assert hybrid.cloud.calls == [("function_control", SERIAL, "FUNC_AC_CHARGE", True)]
    assert writes(local.registers) == writes(hybrid.registers) == []


async def test_a_modbus_exception_before_writing_is_the_inverters_refusal() -> None:
    r = routed("hybrid")
    r.registers.failures = [ModbusExceptionError("the inverter refused the request (Modbus exception 2)", 2)]
    with pytest.raises(RefusedError) as refused:
        await r.router.write(SERIAL, CHARGE_CURRENT, "80")
    assert (refused.value.server_text, refused.value.via) == (
        "the inverter refused the request (Modbus exception 2)",
        "dongle",
    )
    assert r.cloud.calls == []


async def test_a_value_the_register_cannot_hold_is_refused_before_anything_is_written() -> None:
    r = routed("local")
    with pytest.raises(RefusedError) as refused:
        await r.router.write(SERIAL, AC_CHARGE_POWER, "7.55")
    assert (
        refused.value.server_text
        == "7.55 cannot be written to the register: 7.55 has no encoding in register 66 (x10)"
    )
    assert (refused.value.via, writes(r.registers)) == ("dongle", [])


async def test_local_mode_refuses_a_setting_with_no_register() -> None:
    r = routed("local")
    for request in (
        r.router.write(SERIAL, AC_CHARGE_TYPE, "time_and_soc_volt"),
        r.router.read(SERIAL, AC_CHARGE_TYPE),
    ):
        with pytest.raises(RefusedError) as refused:
            await request
        assert (
            refused.value.server_text
            == "AC Charge Type cannot be written through the dongle, only through the cloud"
        )
        assert refused.value.via == "dongle"
    assert (r.registers.requests, r.cloud.calls) == ([], [])


async def test_hybrid_writes_and_reads_a_setting_with_no_register_through_the_cloud() -> None:
    r = routed("hybrid")
    assert await r.router.write(SERIAL, AC_CHARGE_TYPE, "time_and_soc_volt") == Delivery(1, "cloud")
    assert await r.router.read(SERIAL, AC_CHARGE_TYPE) == "time_and_soc_volt"
    assert r.cloud.calls[0] == ("bit_param_control", SERIAL, "BIT_AC_CHARGE_TYPE", 2)
    assert r.registers.requests == []


async def test_hybrid_reads_a_setting_with_a_register_from_the_dongle_and_the_cloud_when_it_is_silent() -> (
    None
):
    r = routed("hybrid")
    r.registers.holding[101] = 80
    r.cloud.parameters = {"HOLD_LEAD_ACID_CHARGE_RATE": "90"}
    assert await r.router.read(SERIAL, CHARGE_CURRENT) == "80"
    assert r.cloud.calls == []
    r.registers.failures = [LocalSilentError("did not answer", sent=True)]
    assert await r.router.read(SERIAL, CHARGE_CURRENT) == "90", "a read may be asked again elsewhere"
    assert r.cloud.calls == [("read_window", SERIAL, 101, 1, True)]


@pytest.mark.parametrize("mode", ["local", "hybrid"])
async def test_runtime_and_energy_come_from_the_input_registers(mode: str) -> None:
    r = routed(mode)
    r.registers.inputs |= {5: 0x6450, 28: 7}  # state of charge 80 % (low byte); 0.7 kWh of PV today
    runtime, energy = await r.router.get_runtime(SERIAL), await r.router.get_energy(SERIAL)
    assert (runtime.serial, runtime.soc, energy.serial, energy.pv_today) == (SERIAL, 80, SERIAL, 0.7)
    assert r.registers.requests == [
        *reads("read input", registers.input_registers(registers.RUNTIME_FIELDS), 40),
        *reads("read input", registers.input_registers(registers.ENERGY_FIELDS), 40),
    ]
    assert r.cloud.calls == []


async def test_cloud_mode_reads_runtime_energy_and_settings_from_the_cloud() -> None:
    r = routed("cloud")
    r.cloud.parameters = {"HOLD_LEAD_ACID_CHARGE_RATE": "90"}
    assert (await r.router.get_runtime(SERIAL)).soc == 55
    assert (await r.router.get_energy(SERIAL)).pv_today == 1.2
    assert (await r.router.read_parameters(SERIAL)).values == {"HOLD_LEAD_ACID_CHARGE_RATE": "90"}
    assert await r.router.read(SERIAL, CHARGE_CURRENT) == "90"
    assert r.cloud.calls == [
        ("get_runtime", SERIAL),
        ("get_energy", SERIAL),
        ("read_parameters", SERIAL),
        ("read_window", SERIAL, 101, 1, True),  # the setting's own register alone, ahead of the polls
    ]
    assert r.registers.requests == []


async def test_the_settings_read_through_the_dongle_says_which_inverter_it_is() -> None:
    r = routed("local")
    r.registers.holding |= {0: 0b101 << 5, 1: 0x100, 19: 161, 101: 80}  # rating 5 + 8, device type 161
    read = await r.router.read_parameters(SERIAL)
    assert (read.serial, read.complete) == (SERIAL, True)
    assert read.values[DEVICE_TYPE_CODE] == "161"
    assert read.values[POWER_RATING] == 13
    assert read.values["HOLD_LEAD_ACID_CHARGE_RATE"] == "80"
    assert set(read.values) == {*registers.HOLDING, DEVICE_TYPE_CODE, POWER_RATING}
    assert r.cloud.calls == [], "local: never the cloud"


async def test_a_large_read_refused_falls_back_to_blocks_of_40_from_then_on() -> None:
    r = routed("local", max_block=125)
    r.registers.largest_read = 40  # older firmware
    with capture_logs() as logs:
        await r.router.read_parameters(SERIAL)
    identity, first, *rest = r.registers.requests
    assert [identity] == reads("read holding", registers.IDENTITY_REGISTERS, 125), "which family, first"
    in_forties = reads("read holding", SETTINGS_REGISTERS, 40)
    assert first == reads("read holding", SETTINGS_REGISTERS, 125)[0]
    assert first[2] > 40, "more than 40 registers asked at once, refused"
    assert rest == in_forties
    assert {
        "event": "local_large_read_refused",
        "log_level": "warning",
        "serial": SERIAL,
        "count": first[2],
        "error": "the inverter refused the request (Modbus exception 3)",
    } in logs
    r.registers.requests.clear()
    await r.router.read_parameters(SERIAL)
    assert r.registers.requests == in_forties, "40 at a time from now on"


async def test_a_large_read_left_unanswered_falls_back_to_blocks_of_40() -> None:
    r = routed("local", max_block=125)
    r.registers.failures = [None, LocalSilentError("did not answer", sent=True)]  # identity answered
    await r.router.read_parameters(SERIAL)
    at_once = reads("read holding", SETTINGS_REGISTERS, 125)[0]
    identity = reads("read holding", registers.IDENTITY_REGISTERS, 125)
    assert r.registers.requests == [*identity, at_once, *reads("read holding", SETTINGS_REGISTERS, 40)]


@pytest.mark.parametrize("largest_read", [20, 39], ids=["a small read refused", "a read of 40 refused"])
async def test_a_refused_read_of_40_registers_or_fewer_is_the_inverters_refusal(largest_read: int) -> None:
    r = routed("local")
    r.registers.largest_read = largest_read
    with pytest.raises(RefusedError):
        await r.router.read_parameters(SERIAL)
    refused = next(read for read in reads("read holding", SETTINGS_REGISTERS, 40) if read[2] > largest_read)
    assert r.registers.requests[-1] == refused
    assert r.registers.requests.count(refused) == 1, "not asked again: the inverter said no"


async def test_hybrid_adds_the_settings_with_no_register_from_the_cloud() -> None:
    r = routed("hybrid")
    r.registers.holding[101] = 80
    r.cloud.parameters = {"BIT_AC_CHARGE_TYPE": 2, "HOLD_LEAD_ACID_CHARGE_RATE": "99"}
    r.cloud.complete = False
    read = await r.router.read_parameters(SERIAL)
    assert read.values["BIT_AC_CHARGE_TYPE"] == 2, "from the cloud: it has no register"
    assert read.values["HOLD_LEAD_ACID_CHARGE_RATE"] == "80", "the dongle's own read wins"
    assert (read.serial, read.complete) == (SERIAL, False), "as complete as the cloud's read"
    # Quick charge's state is in register 233, which the dongle just read: its status is not asked.
    assert r.cloud.calls == [("read_parameters", SERIAL, "without actions")]


async def test_hybrid_keeps_the_dongles_settings_when_the_cloud_fails_and_says_they_are_incomplete() -> None:
    r = routed("hybrid")
    r.cloud.failures = [TransientError("DATAFRAME_TIMEOUT")]
    with capture_logs() as logs:
        read = await r.router.read_parameters(SERIAL)
    assert "BIT_AC_CHARGE_TYPE" not in read.values
    assert read.values["HOLD_LEAD_ACID_CHARGE_RATE"] == "0"
    assert read.complete is False
    assert logs == [
        {
            "event": "cloud_only_settings_unread",
            "log_level": "warning",
            "serial": SERIAL,
            "error": "DATAFRAME_TIMEOUT",
        }
    ]


async def test_hybrid_asks_the_cloud_for_quick_charges_status_only_when_the_dongle_could_not_read_it() -> (
    None
):
    r = routed("hybrid")
    r.registers.refused = {233}  # as the off-grid firmware refuses reads of it
    r.cloud.parameters = {"hasUnclosedQuickChargeTask": True}
    read = await r.router.read_parameters(SERIAL)
    assert r.cloud.calls == [("read_parameters", SERIAL)], "with the actions' states"
    assert read.values["hasUnclosedQuickChargeTask"] is True


async def test_a_cloud_that_keeps_failing_the_hybrid_fill_is_warned_of_once_and_its_return_said() -> None:
    r = routed("hybrid")
    r.cloud.failures = [TransientError("DATAFRAME_TIMEOUT"), TransientError("still down")]
    with capture_logs() as logs:
        for _ in range(3):
            await r.router.read_parameters(SERIAL)
    assert [(log["event"], log["log_level"], log.get("error")) for log in logs] == [
        ("cloud_only_settings_unread", "warning", "DATAFRAME_TIMEOUT"),
        ("cloud_only_settings_unread", "debug", "still down"),
        ("cloud_only_settings_read_again", "info", None),
    ]


async def test_a_cloud_that_answers_a_fallback_read_ends_the_outage_too() -> None:
    r = routed("hybrid")
    r.cloud.failures = [TransientError("DATAFRAME_TIMEOUT")]
    await r.router.read_parameters(SERIAL)  # the dongle answered, the cloud's fill failed
    r.registers.failures = [LocalUnreachableError("cannot connect", sent=False)]
    with capture_logs() as logs:
        await r.router.read_parameters(SERIAL)  # the dongle failed: the cloud's read, which answered
    assert [log["event"] for log in logs if log["event"].startswith("cloud_only")] == [
        "cloud_only_settings_read_again"
    ]


async def test_a_settings_read_that_fell_back_to_the_cloud_is_the_clouds_alone() -> None:
    r = routed("hybrid")
    r.registers.failures = [LocalUnreachableError("cannot connect", sent=False)]
    r.cloud.parameters = {"BIT_AC_CHARGE_TYPE": 2}
    read = await r.router.read_parameters(SERIAL)
    assert (read.values, read.complete) == ({"BIT_AC_CHARGE_TYPE": 2}, True)
    assert r.cloud.calls == [("read_parameters", SERIAL)], "asked once"


@pytest.mark.parametrize(
    ("setting_written", "value", "calls"),
    [
        (AC_CHARGE, "ON", [("function_control", SERIAL, "FUNC_AC_CHARGE", True)]),
        (AC_CHARGE, "OFF", [("function_control", SERIAL, "FUNC_AC_CHARGE", False)]),
        (AC_CHARGE_TYPE, "time_and_soc_volt", [("bit_param_control", SERIAL, "BIT_AC_CHARGE_TYPE", 2)]),
        (CHARGE_CURRENT, "80", [("write_parameter", SERIAL, "HOLD_LEAD_ACID_CHARGE_RATE", "80")]),
        (
            AC_CHARGE_WINDOW,
            "01:30-05:45",
            [
                ("write_parameter", SERIAL, "HOLD_AC_CHARGE_START_HOUR", "01"),
                ("write_parameter", SERIAL, "HOLD_AC_CHARGE_START_MINUTE", "30"),
                ("write_parameter", SERIAL, "HOLD_AC_CHARGE_END_HOUR", "05"),
                ("write_parameter", SERIAL, "HOLD_AC_CHARGE_END_MINUTE", "45"),
            ],
        ),
    ],
    ids=["switch on", "switch off", "select", "number", "window"],
)
async def test_the_cloud_writes_each_kind_of_setting_through_its_own_endpoint(
    setting_written: Setting, value: str, calls: list[tuple[object, ...]]
) -> None:
    r = routed("cloud")
    r.cloud.attempts = 2  # each value sent twice (a replay after a new login)
    assert await r.router.write(SERIAL, setting_written, value) == Delivery(2 * len(calls), "cloud")
    assert r.cloud.calls == calls


@pytest.mark.parametrize(
    ("refused_at", "words"),
    [(0, "REMOTE_SET_ERROR"), (2, "REMOTE_SET_ERROR (after 2 of the window's 4 values were written)")],
    ids=["its first value", "its third value"],
)
async def test_a_window_refused_by_the_cloud_says_how_much_of_it_was_written(
    refused_at: int, words: str
) -> None:
    r = routed("cloud")
    r.cloud.attempts = 2
    r.cloud.failures = [*[None] * refused_at, RefusedError("REMOTE_SET_ERROR")]
    with pytest.raises(RefusedError) as refused:
        await r.router.write(SERIAL, AC_CHARGE_WINDOW, "01:30-05:45")
    assert (refused.value.server_text, refused.value.via) == (words, "cloud")
    assert refused.value.partial is (refused_at > 0), "part of the window landed before the refusal"
    assert refused.value.attempts == 1 + 2 * refused_at, "every request sent, the refused one included"
    assert len(r.cloud.calls) == refused_at + 1, "nothing after the refusal"


async def test_a_window_cut_short_by_a_transient_fault_counts_what_was_sent() -> None:
    r = routed("cloud")
    r.cloud.failures = [None, OutcomeUnknownError("no answer from the cloud within 30 s")]
    with pytest.raises(OutcomeUnknownError) as unknown:
        await r.router.write(SERIAL, AC_CHARGE_WINDOW, "01:30-05:45")
    assert (unknown.value.message, unknown.value.attempts) == ("no answer from the cloud within 30 s", 2)


async def test_the_cloud_reads_a_window_from_its_own_registers_alone() -> None:
    r = routed("cloud")
    r.cloud.parameters = {
        "HOLD_AC_CHARGE_START_HOUR": "01",
        "HOLD_AC_CHARGE_START_MINUTE": "30",
        "HOLD_AC_CHARGE_END_HOUR": "05",
        "HOLD_AC_CHARGE_END_MINUTE": "45",
    }
    assert await r.router.read(SERIAL, AC_CHARGE_WINDOW) == "01:30-05:45"
    assert r.cloud.calls == [("read_window", SERIAL, 68, 2, True)]


async def test_with_no_cloud_account_the_inverters_are_the_configured_ones() -> None:
    settings = Settings.model_validate({"transport": "local", "inverters": {SERIAL: {"dongle": DONGLE}}})
    way = RegisterTransport(SERIAL, FakeRegisters(SERIAL))
    (inverter,) = await Router(None, {SERIAL: way}, settings, FakeClock()).inverters()
    assert (inverter.serial, inverter.model, inverter.device_type) == (SERIAL, UNIDENTIFIED_MODEL, 6)


async def test_with_a_cloud_account_the_inverters_are_the_accounts() -> None:
    r = routed("hybrid")
    listed = InverterInfo.model_validate({"serialNum": SERIAL, "deviceTypeText": "18KPV", "deviceType": 6})
    r.cloud.inverter_list = (listed,)
    assert await r.router.inverters() == (listed,)


def test_an_inverter_reached_without_the_cloud_has_the_sensors_its_registers_give() -> None:
    given = sensors_given_locally()
    assert given == LOCAL_SENSORS, "computed once, at import"
    assert given <= {sensor.key for sensor in (*SENSORS, *ENERGY_SENSORS)}
    assert {"soc", "pv_power", "battery_voltage", "energy_pv_today", "energy_import_total"} <= given
    assert not given & {"load_power", "energy_load_today", "energy_load_total"}, (
        "the load: the cloud computes it"
    )
    assert routed("local").router.sensors_of(SERIAL) == LOCAL_SENSORS
    assert routed("hybrid").router.sensors_of(SERIAL) is None, "hybrid: the cloud gives the rest"


async def test_the_router_shows_each_register_transports_counts_and_closes_them() -> None:
    r = routed("local")
    assert r.router.local_stats == {SERIAL: ("dongle", r.registers.stats)}
    await r.router.close()
    assert r.registers.closed


def test_each_configured_dongle_and_adapter_becomes_a_register_transport() -> None:
    settings = Settings.model_validate(
        {
            "transport": "hybrid",
            "cloud": CLOUD_ACCOUNT,
            "inverters": {
                SERIAL: {"dongle": DONGLE | {"max_block": 125, "rest_seconds": 30}},
                "4512345601": {"modbus": {"host": "192.0.2.9"}},
                "4512345602": {"modbus": {"device": "/dev/ttyUSB0", "rest_seconds": 5}},
            },
        }
    )
    ways = register_transports(settings)
    assert {serial: (way.serial, way.name, way.max_block, way.rest) for serial, way in ways.items()} == {
        SERIAL: (SERIAL, "dongle", 125, 30),
        "4512345601": ("4512345601", "modbus_tcp", 40, 60),
        "4512345602": ("4512345602", "modbus_rtu", 40, 5),
    }
    dongle = ways[SERIAL].connection
    assert isinstance(dongle, DongleConnection)
    assert dongle.dongle_serial == "BA12345600"
    assert all(
        isinstance(ways[serial].connection, ModbusConnection) for serial in ("4512345601", "4512345602")
    )


def test_the_inverters_on_one_rs485_device_share_its_connection() -> None:
    settings = Settings.model_validate(
        {
            "transport": "local",
            "inverters": {
                "4512345601": {"modbus": {"device": "/dev/ttyUSB0", "unit": 1}},
                "4512345602": {"modbus": {"device": "/dev/ttyUSB0", "unit": 2}},
                "4512345603": {"modbus": {"device": "/dev/ttyUSB1"}},
                "4512345604": {"modbus": {"host": "192.0.2.9"}},
                "4512345605": {"modbus": {"host": "192.0.2.10"}},
            },
        }
    )
    lines = {}
    for serial, way in register_transports(settings).items():
        assert isinstance(way.connection, ModbusConnection)
        # Its line is private; nothing else shows the sharing short of a real serial device opened twice.
        lines[serial] = way.connection._line
    assert lines["4512345601"] is lines["4512345602"], "one device, one line"
    assert len({id(line) for line in lines.values()}) == 4, "another device or an adapter: a line of its own"


def test_a_register_transport_is_a_dongle_read_in_blocks_of_40_resting_60_s_by_default() -> None:
    way = RegisterTransport(SERIAL, FakeRegisters(SERIAL))
    assert (way.name, way.max_block, way.rest) == ("dongle", 40, 60.0)


async def test_a_gridboss_comes_through_the_cloud_only() -> None:
    r = routed("hybrid")
    assert (await r.router.get_gridboss("4812345602")).serial == "4812345602"
    assert r.cloud.calls == [("get_gridboss", "4812345602")]
    assert r.registers.requests == []


def module_slot(serial: str, soc: int) -> dict[int, int]:
    """Slot 0 holding one module: status, 52.00 V, SOC, and the serial (ASCII, low byte first)."""
    text = serial.encode().ljust(16, b"\0")
    named = {5019 + i: text[2 * i] | text[2 * i + 1] << 8 for i in range(8)}
    return {5002: 0xC001, 5008: 5200, 5010: 100 << 8 | soc} | named


BATTERY_SLOTS = [("read input", start, 30) for start in (5002, 5032, 5062, 5092)]


@pytest.mark.parametrize(
    ("mode", "max_block", "requests"),
    [("local", 125, [("read input", 5002, 120)]), ("hybrid", 40, BATTERY_SLOTS)],
    ids=["all four slots in one read", "a slot a read, within 40"],
)
async def test_battery_modules_come_from_their_input_registers(
    mode: str, max_block: int, requests: list[tuple[str, int, int]]
) -> None:
    r = routed(mode, max_block=max_block)
    r.registers.inputs |= module_slot("5600BAT0000", 81)
    bank = await r.router.get_batteries(SERIAL)
    assert [(module.module_id, module.soc, module.voltage) for module in bank.modules] == [
        ("5600BAT0000", 81, 52.0)
    ]
    assert r.registers.requests == requests
    assert r.cloud.calls == [], "the dongle answered: never the cloud"


async def test_battery_modules_come_through_the_cloud_in_cloud_mode() -> None:
    r = routed("cloud")
    assert (await r.router.get_batteries(SERIAL)).serial == SERIAL
    assert r.cloud.calls == [("get_batteries", SERIAL)]
    assert r.registers.requests == []


async def test_hybrid_reads_battery_modules_from_the_cloud_when_the_dongle_is_silent() -> None:
    r = routed("hybrid")
    r.registers.failures = [LocalSilentError("did not answer", sent=True)]
    assert (await r.router.get_batteries(SERIAL)).serial == SERIAL
    assert r.registers.requests == BATTERY_SLOTS[:1]
    assert r.cloud.calls == [("get_batteries", SERIAL)]


async def test_the_whole_battery_block_refused_is_read_a_slot_at_a_time_from_then_on() -> None:
    """A dongle that takes 125 registers elsewhere may still refuse the block: no module is lost to it."""
    r = routed("local", max_block=125)
    r.registers.failures = [ModbusExceptionError("the inverter refused the request (Modbus exception 3)", 3)]
    r.registers.inputs |= module_slot("5600BAT0000", 81)
    with capture_logs() as logs:
        assert len((await r.router.get_batteries(SERIAL)).modules) == 1
    assert r.registers.requests == [("read input", 5002, 120), *BATTERY_SLOTS]
    assert [log["event"] for log in logs] == ["local_battery_block_refused"]
    r.registers.requests.clear()
    await r.router.get_batteries(SERIAL)
    assert r.registers.requests == BATTERY_SLOTS


@pytest.mark.parametrize("mode", ["local", "hybrid"])
async def test_a_battery_slot_refused_is_the_inverters_refusal(mode: str) -> None:
    """Firmware without the 5002+ registers says so: the cloud would not be told otherwise by it."""
    r = routed(mode)
    r.registers.largest_read = 20
    with pytest.raises(RefusedError) as raised:
        await r.router.get_batteries(SERIAL)
    assert raised.value.via == "dongle"
    assert r.registers.requests == BATTERY_SLOTS[:1]
    assert r.cloud.calls == []


async def test_with_no_cloud_a_gridboss_has_no_transport() -> None:
    settings = Settings.model_validate({"transport": "local", "inverters": {SERIAL: {"dongle": DONGLE}}})
    router = Router(None, {}, settings, FakeClock())
    with pytest.raises(NoTransportError, match="no transport reaches 4812345602"):
        await router.get_gridboss("4812345602")


@pytest.mark.parametrize(("mode", "given"), [("cloud", "cloud"), ("local", "registers"), ("hybrid", None)])
def test_the_sensors_announced_are_those_the_transport_gives(mode: str, given: str | None) -> None:
    sensors = routed(mode).router.sensors_of(SERIAL)
    if given is None:
        assert sensors is None
        return
    assert sensors is not None
    assert ("faults" in sensors, "load_power" in sensors) == (
        (False, True) if given == "cloud" else (True, False)
    )


GRIDBOSS = "4812345602"
SMART_PORT_2 = setting("smart_port_2_mode")


@pytest.mark.parametrize(
    ("mode", "calls"),
    [
        ("unused", [("bit_param_control", GRIDBOSS, "BIT_MIDBOX_SP_MODE_2", 0)]),
        (
            "smart_load",
            [
                ("bit_param_control", GRIDBOSS, "BIT_MIDBOX_SP_MODE_2", 1),
                ("function_control", GRIDBOSS, "FUNC_SMART_LOAD_EN_2", True),
            ],
        ),
        (
            "ac_couple",
            [
                ("bit_param_control", GRIDBOSS, "BIT_MIDBOX_SP_MODE_2", 2),
                ("function_control", GRIDBOSS, "FUNC_AC_COUPLE_EN_2", True),
            ],
        ),
    ],
)
async def test_a_smart_port_mode_is_written_before_the_flag_it_needs(mode: str, calls: list[object]) -> None:
    r = routed("cloud")
    assert await r.router.write(GRIDBOSS, SMART_PORT_2, mode) == Delivery(len(calls), "cloud")
    assert r.cloud.calls == calls


async def test_a_smart_port_flag_refused_after_its_mode_was_written_is_a_partial_refusal() -> None:
    r = routed("cloud")
    r.cloud.failures = [None, RefusedError("REMOTE_SET_ERROR")]
    with pytest.raises(RefusedError) as refused:
        await r.router.write(GRIDBOSS, SMART_PORT_2, "smart_load")
    assert refused.value.server_text == (
        "REMOTE_SET_ERROR (after BIT_MIDBOX_SP_MODE_2 was written; FUNC_SMART_LOAD_EN_2 was not)"
    )
    assert (refused.value.partial, refused.value.attempts) == (True, 2)


async def test_a_smart_port_mode_is_read_back_from_two_windows_with_its_flag() -> None:
    r = routed("cloud")
    r.cloud.parameters |= {
        "BIT_MIDBOX_SP_MODE_2": 1,
        "FUNC_SMART_LOAD_EN_2": True,
        "FUNC_AC_COUPLE_EN_2": False,
    }
    assert await r.router.read(GRIDBOSS, SMART_PORT_2) == "smart_load"
    assert r.cloud.calls == [
        ("read_window", GRIDBOSS, 20, 1, True),
        ("read_window", GRIDBOSS, 229, 1, True),
    ], "register 20 and register 229: too far apart for one window of the cloud's 127"
    r.cloud.parameters["FUNC_SMART_LOAD_EN_2"] = False
    with pytest.raises(ValueUnreadable, match="FUNC_SMART_LOAD_EN_2 is off"):
        await r.router.read(GRIDBOSS, SMART_PORT_2)


async def test_a_module_missing_from_a_read_is_unavailable_and_gone_after_three_reads_in_a_row() -> None:
    """One empty page is no proof a module went (eg4_web_monitor #287); three in a row are."""
    r = routed("local", max_block=125)
    r.registers.inputs |= module_slot("5600BAT0000", 81)

    async def seen() -> list[tuple[str, int | None, bool]]:
        bank = await r.router.get_batteries(SERIAL)
        return [(module.module_id, module.soc, module.lost) for module in bank.modules]

    assert await seen() == [("5600BAT0000", 81, False)]
    r.registers.inputs.clear()
    assert await seen() == [("5600BAT0000", 81, True)]
    assert await seen() == [("5600BAT0000", 81, True)]
    assert await seen() == []
    assert await seen() == []
    r.registers.inputs |= module_slot("5600BAT0000", 80)
    assert await seen() == [("5600BAT0000", 80, False)]
    r.registers.inputs.clear()
    assert await seen() == [("5600BAT0000", 80, True)], "back again: three more reads to go"


async def test_a_register_the_firmware_refuses_to_be_read_is_left_out_and_never_asked_for_again() -> None:
    """eg4_web_monitor reports the off-grid models refuse register 233 (ILLEGAL DATA ADDRESS): a settings
    read finds it by halves, remembers it, and keeps every other setting."""
    dongle = FakeRegisters(SERIAL, holding={101: 120, 19: 2092}, refused={233})
    way = RegisterTransport(SERIAL, dongle)
    with capture_logs() as logs:
        read = await way.parameters()
    assert way.refused_registers == {233}
    assert read.values["HOLD_LEAD_ACID_CHARGE_RATE"] == "120"
    assert read.values[DEVICE_TYPE_CODE] == "2092"
    assert not {"FUNC_BATTERY_BACKUP_CTRL", "hasUnclosedQuickChargeTask"} & set(read.values)
    assert [entry["register"] for entry in logs if entry["event"] == "local_register_refused"] == [233]
    dongle.requests.clear()
    again = await way.parameters()
    assert again.values == read.values
    assert all(not start <= 233 < start + count for _kind, start, count in dongle.requests)
    assert len(dongle.requests) == len(
        registers.blocks(
            tuple(
                sorted(
                    {*registers.holding_registers(tuple(registers.HOLDING)), *registers.IDENTITY_REGISTERS}
                    - {233}
                )
            ),
            way.max_block,
        )
    )


@pytest.mark.parametrize(
    ("refused", "failure"),
    [({19}, "an identity register"), (set(), "another exception code")],
)
async def test_an_identity_register_refused_or_another_exception_fails_the_read(
    refused: set[int], failure: str
) -> None:
    other = ModbusExceptionError("the inverter refused the request (Modbus exception 4)", 4)
    dongle = FakeRegisters(SERIAL, refused=refused, failures=[] if refused else [other])
    way = RegisterTransport(SERIAL, dongle)
    with pytest.raises(ModbusExceptionError):
        await way.parameters()
    assert way.refused_registers == set(), failure


async def test_a_refused_register_does_not_shrink_large_reads_and_later_blocks_step_around_it() -> None:
    dongle = FakeRegisters(SERIAL, holding={19: 2092}, refused={233})
    way = RegisterTransport(SERIAL, dongle, max_block=125)
    await way.parameters()
    assert (way.max_block, way.refused_registers) == (125, {233}), "refused for its register, not its size"
    dongle.requests.clear()
    await way.parameters()
    assert all(not start <= 233 < start + count for _kind, start, count in dongle.requests)
    assert max(count for _kind, _start, count in dongle.requests) > registers.BLOCK


async def test_a_device_that_refuses_every_register_remembers_none_of_them() -> None:
    """A dongle answering ILLEGAL DATA ADDRESS to everything (a booting inverter, say) fails the read at its
    identity: nothing is remembered as refused, and the next read asks for every register again."""
    dongle = FakeRegisters(SERIAL, refused=set(range(0, 300)))
    way = RegisterTransport(SERIAL, dongle)
    with pytest.raises(ModbusExceptionError):
        await way.parameters()
    assert way.refused_registers == set()


def test_blocks_never_span_a_register_the_firmware_refuses() -> None:
    assert registers.blocks((230, 236), 40) == ((230, 7),)
    assert registers.blocks((230, 236), 40, avoiding=frozenset({233})) == ((230, 1), (236, 1))
    assert registers.blocks((230, 232, 236), 40, avoiding=frozenset({250})) == ((230, 7),)


@pytest.mark.parametrize(
    ("code", "absent", "present"),
    [
        (44, (269, 274), (209, 256)),  # Luxpower: no source names 269-274
        (54, (209, 212), (256, 152)),  # EG4 off-grid: no peak shaving
        (2092, (), (209, 269)),  # EG4 hybrid: both schedules
    ],
    ids=["luxpower", "eg4 off-grid", "eg4 hybrid"],
)
async def test_a_settings_read_reads_only_the_registers_of_the_settings_the_family_has(
    code: int, absent: tuple[int, ...], present: tuple[int, ...]
) -> None:
    """Register 19 is read alone once; from then on the settings read leaves out the registers of settings
    the family's sources say it lacks (its firmware need not answer for them)."""
    r = routed("local")
    r.registers.holding[19] = code
    await r.router.read_parameters(SERIAL)
    await r.router.read_parameters(SERIAL)
    asked = {start + offset for _kind, start, count in r.registers.requests for offset in range(count)}
    assert not asked & set(absent)
    assert set(present) <= asked
    identity = reads("read holding", registers.IDENTITY_REGISTERS, 40)
    assert r.registers.requests.count(identity[0]) == 1, "the family asked once"
