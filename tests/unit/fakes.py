"""Fakes at the bridge's own seams: a clock that moves only when told, a transport to a scripted inverter, a
listener that records what the write queue says, and, for the router, an inverter's registers behind its
dongle and the cloud's client. No broker, no server, no socket, no sleeping."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from bridge.core.commands import Command, Result
from bridge.core.errors import NoTransportError, TransientError, TransportError
from bridge.core.kinds import Setting
from bridge.core.readings import (
    BatteryBank,
    Energy,
    Event,
    GridBossRuntime,
    InverterInfo,
    ParameterRead,
    ParameterValue,
    Runtime,
    parse_energy,
    parse_gridboss,
    parse_runtime,
)
from bridge.core.writes import Delivery
from bridge.transports.local.dongle import (
    LocalSilentError,
    LocalStats,
    LocalTransportError,
    ModbusExceptionError,
)
from bridge.transports.local.frames import ModbusFunction


class FakeClock:
    """Time stands still until `advance()`; a sleeper wakes when its deadline has passed."""

    def __init__(self, start: float = 1000.0) -> None:
        self.time = start
        self.slept: list[float] = []
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        waking: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.time + seconds, waking))
        await waking

    async def advance(self, seconds: float) -> None:
        """Move time on, wake every sleeper whose deadline passed, and let them run."""
        self.time += seconds
        for deadline, waking in list(self._sleepers):
            if deadline <= self.time and not waking.done():
                waking.set_result(None)
                self._sleepers.remove((deadline, waking))
        await settle()


async def settle() -> None:
    """Let every task that can run, run (a few dozen loop turns; nothing here waits on I/O)."""
    for _ in range(50):
        await asyncio.sleep(0)


#: The inverter a `FakeTransport` reaches unless told otherwise.
INVERTER = "4512345600"


@dataclass
class FakeTransport:
    """An inverter's settings behind a scripted transport. Each write takes the next entry of `on_write`
    (an exception to raise, or "ignore": the cloud says yes but the inverter keeps its value), then applies;
    each read fails while `failing_reads` lasts. It reaches the inverters of `serials` alone, as the router
    does: a request for any other serial is `NoTransportError`. They share one `held` (the tests that write
    to two inverters write different settings)."""

    held: dict[str, str] = field(default_factory=dict)
    serials: tuple[str, ...] = (INVERTER,)
    on_write: list[BaseException | str] = field(default_factory=list)
    failing_reads: int = 0
    sent: list[str] = field(default_factory=list)
    #: The way the writes go, as a result's `via` says.
    via: str = "cloud"
    #: When given, each write is sent and then waits for this event before it acts and answers: a write in
    #: flight, for as long as the test wants.
    answer_when: asyncio.Event | None = None

    async def write(self, serial: str, setting: Setting, value: str) -> Delivery:
        self._reach(serial)
        self.sent.append(value)
        if self.answer_when is not None:
            await self.answer_when.wait()
        behaviour = self.on_write.pop(0) if self.on_write else "apply"
        if isinstance(behaviour, BaseException):
            raise behaviour
        if behaviour == "apply":
            self.held[setting.key] = value
        return Delivery(1, self.via)

    async def read(self, serial: str, setting: Setting) -> str:
        self._reach(serial)
        if self.failing_reads > 0:
            self.failing_reads -= 1
            raise TransientError("no answer from the cloud within 30 s")
        return self.held[setting.key]

    def _reach(self, serial: str) -> None:
        if serial not in self.serials:
            raise NoTransportError(f"no transport reaches {serial}")


@dataclass
class RecordingListener:
    results: list[tuple[Command, Result]] = field(default_factory=list)
    held: list[tuple[str, str, str]] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    answered: list[str] = field(default_factory=list)
    failed: list[tuple[str, TransportError]] = field(default_factory=list)

    def answer(self, command: Command, result: Result) -> None:
        self.results.append((command, result))

    def read_holding(self, serial: str, setting: Setting, value: str) -> None:
        self.held.append((serial, setting.key, value))

    def wrote(self, serial: str) -> None:
        self.written.append(serial)

    def transport_answered(self, serial: str) -> None:
        self.answered.append(serial)

    def transport_failed(self, serial: str, error: TransportError) -> None:
        self.failed.append((serial, error))

    def outcomes(self) -> list[tuple[str, str | None]]:
        """Each result as (outcome, requested payload)."""
        return [(result.outcome.value, command.requested) for command, result in self.results]


@dataclass
class FakeRegisters:
    """One inverter's registers behind its dongle or RS485 adapter, as the router's `RegisterConnection`:
    reads give `holding` or `inputs` (0 where unset), single writes change `holding`. Each request is
    recorded, then takes the next of `failures` while any are left: an error to raise, or None (answered).
    A read of more than
    `largest_read` registers is refused, as older firmware does; a request for another inverter is never
    answered."""

    inverter: str = INVERTER
    holding: dict[int, int] = field(default_factory=dict)
    inputs: dict[int, int] = field(default_factory=dict)
    failures: list[LocalTransportError | None] = field(default_factory=list)
    largest_read: int = 127
    #: Holding registers the firmware refuses to be read (ILLEGAL DATA ADDRESS, code 2), as the off-grid
    #: models are reported to refuse register 233.
    refused: set[int] = field(default_factory=set)
    #: ("read holding" or "read input", start, count), or ("write", register, value).
    requests: list[tuple[str, int, int]] = field(default_factory=list)
    stats: LocalStats = field(default_factory=LocalStats)
    closed: bool = False

    async def read(self, inverter: str, function: ModbusFunction, start: int, count: int) -> tuple[int, ...]:
        kind, table = {
            ModbusFunction.READ_HOLDING: ("read holding", self.holding),
            ModbusFunction.READ_INPUT: ("read input", self.inputs),
        }[function]  # no other function reads registers
        self._request(inverter, kind, start, count)
        if count > self.largest_read:
            raise ModbusExceptionError("the inverter refused the request (Modbus exception 3)", 3)
        if function is ModbusFunction.READ_HOLDING and self.refused & set(range(start, start + count)):
            raise ModbusExceptionError("the inverter refused the request (Modbus exception 2)", 2)
        return tuple(table.get(register, 0) for register in range(start, start + count))

    async def write_single(self, inverter: str, register: int, value: int) -> None:
        self._request(inverter, "write", register, value)
        self.holding[register] = value

    async def write_multiple(self, inverter: str, start: int, values: list[int]) -> None:
        raise AssertionError("the router writes one register at a time")

    async def close(self) -> None:
        self.closed = True

    def _request(self, inverter: str, kind: str, start: int, count: int) -> None:
        self.requests.append((kind, start, count))
        if inverter != self.inverter:
            raise LocalSilentError(f"no answer for {inverter}", sent=True)
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure


@dataclass
class FakeCloud:
    """The cloud's client as the router uses it: every parameter by name in `parameters` (what reads give,
    what writes change; `complete` false: a window of them failed), each call recorded, each write sent
    `attempts` times. Each call takes the next of `failures` while any are left: an error to raise, or None
    (answered)."""

    parameters: dict[str, ParameterValue] = field(default_factory=dict)
    complete: bool = True
    inverter_list: tuple[InverterInfo, ...] = ()
    failures: list[TransportError | None] = field(default_factory=list)
    attempts: int = 1
    calls: list[tuple[object, ...]] = field(default_factory=list)
    #: Each one-off action's status (`quickCharge`: whether one runs), by the action's name.
    running: dict[str, bool] = field(default_factory=dict)
    #: A GridBOSS's runtime answer, as the cloud's `midboxData` raw numbers.
    midbox: dict[str, Any] = field(default_factory=dict)
    #: Whether the cloud says the GridBOSS is lost (its link to the cloud down).
    midbox_lost: bool = False

    async def inverters(self) -> tuple[InverterInfo, ...]:
        self._call("inverters")
        return self.inverter_list

    async def get_runtime(self, serial: str) -> Runtime:
        self._call("get_runtime", serial)
        return parse_runtime({"serialNum": serial, "soc": 55}, serial)

    async def get_energy(self, serial: str) -> Energy:
        self._call("get_energy", serial)
        return parse_energy({"serialNum": serial, "todayYielding": 12}, serial)

    async def get_batteries(self, serial: str) -> BatteryBank:
        self._call("get_batteries", serial)
        return BatteryBank(serial=serial)

    async def get_gridboss(self, serial: str) -> GridBossRuntime:
        self._call("get_gridboss", serial)
        return parse_gridboss(
            {"serialNum": serial, "lost": self.midbox_lost, "midboxData": self.midbox}, serial
        )

    async def get_last_event(self, serial: str) -> Event | None:
        self._call("get_last_event", serial)
        return None

    async def read_parameters(self, serial: str, *, actions: bool = True) -> ParameterRead:
        self._call("read_parameters", serial, *(() if actions else ("without actions",)))
        return ParameterRead(serial=serial, values=dict(self.parameters), complete=self.complete)

    async def read_window(
        self, serial: str, start: int, count: int, *, urgent: bool = False
    ) -> dict[str, ParameterValue]:
        self._call("read_window", serial, start, count, urgent)
        return dict(self.parameters)

    async def write_parameter(self, serial: str, hold_param: str, value_text: str) -> int:
        self._call("write_parameter", serial, hold_param, value_text)
        self.parameters[hold_param] = value_text
        return self.attempts

    async def function_control(self, serial: str, func_param: str, enable: bool) -> int:
        self._call("function_control", serial, func_param, enable)
        self.parameters[func_param] = enable
        return self.attempts

    async def bit_param_control(self, serial: str, bit_param: str, value: int) -> int:
        self._call("bit_param_control", serial, bit_param, value)
        self.parameters[bit_param] = value
        return self.attempts

    async def action(self, serial: str, name: str, start: bool) -> int:
        """A one-off action (`quickCharge`) started or stopped: its status field (`running`) follows."""
        self._call("action", serial, name, start)
        self.running[name] = start
        return self.attempts

    async def action_running(self, serial: str, name: str, *, urgent: bool = False) -> bool:
        self._call("action_running", serial, name, urgent)
        return self.running.get(name, False)

    def _call(self, *call: object) -> None:
        self.calls.append(call)
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure


class Recorder:
    """A publisher that keeps what it was given: (topic, payload), in order."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str]] = []

    def publish(self, topic: str, payload: str, *, retain: bool, qos: int = 1) -> None:
        self.published.append((topic, payload))
