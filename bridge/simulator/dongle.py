"""The simulated WiFi dongles: the local protocol (TCP, framed Modbus) for every simulated inverter, on the
same state as the simulated cloud, so that a write through one transport is read through the other.

One port serves every inverter; a request names its dongle and inverter, as frames do. Registers are made
from the cloud's values with the bridge's register table (`bridge.transports.local.registers`), and
writes are applied through the same state methods the cloud's endpoints use, with the same refusals.

Faults, queued over HTTP (`POST /_sim/dongle_faults`) or directly: `silence` (no answer), `drop_mid_write`
(the write is applied, then the connection closed before the answer), `misrouted_reply` (another
inverter's reply first), `heartbeat_first` (a heartbeat between request and answer), `exception` (a Modbus
exception reply, nothing done); `silent` makes every request go unanswered until turned off.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

import structlog

from bridge.simulator.answers import battery_answer, energy_answer, gridboss_answer, runtime_answer
from bridge.simulator.state import QUICK_CHARGE_TASK, SimInverter, SimulatorState
from bridge.transports.local import batteries, frames, gridboss, registers
from bridge.transports.local.frames import Frame, FrameError, ModbusFunction, TcpFunction
from bridge.transports.local.registers import FieldValue

log = structlog.get_logger(__name__)

ILLEGAL_ADDRESS: Final = 2
ILLEGAL_VALUE: Final = 3
DEVICE_FAILURE: Final = 4
#: The most registers one read may ask for, as newer firmware takes.
MAX_READ: Final = 127


def refuses_read(inverter: SimInverter, function: int, start: int, count: int) -> bool:
    """Whether the firmware refuses a holding read for a register it refuses to be written: eg4_web_monitor
    reports reads (FC03) of register 233 refused on the off-grid models as writes are (asserted there, not
    captured)."""
    return function == ModbusFunction.READ_HOLDING and bool(
        inverter.refused_registers & set(range(start, start + count))
    )


class SimulatedDongles:
    """Answers the local protocol for every inverter of `state`."""

    def __init__(self, state: SimulatorState) -> None:
        self.state = state
        self.connections = 0
        #: The connections open now, closed when the dongles stop.
        self._open: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}

    def inverter_behind(self, dongle_serial: str, inverter_serial: str) -> SimInverter | None:
        inverter = self.state.inverters.get(inverter_serial)
        if inverter is None or self.state.dongle_serial(inverter_serial) != dongle_serial:
            return None
        return inverter

    # -- registers from the shared state --------------------------------------------------------------

    def holding(self, inverter: SimInverter) -> dict[int, int]:
        words: dict[int, int] = {}
        held = _held(inverter)
        for name, encoding in registers.HOLDING.items():
            value = held.get(name)
            if value is None:
                continue
            words.setdefault(encoding.register, 0)
            with contextlib.suppress(registers.EncodingError, ValueError):
                words.update(encoding.encode(value, words))
        return words | _identity(inverter)

    def inputs(self, inverter: SimInverter) -> dict[int, int]:
        """The runtime's and energy's registers, and the battery modules' slots from 5002: each from the
        cloud's answer, so that both ways see the same values (a module that is `lost` to the cloud, or
        past the fourth, is in no slot). A GridBOSS's: from its cloud answer (`midboxData`) too."""
        now = time.monotonic()
        if not inverter.has_battery_parameters:
            # As the cloud's endpoint does: the inverters' flows brought up to now first.
            for other in self.state.inverters.values():
                if other.has_battery_parameters:
                    other.advance(now)
            return gridboss.encode(gridboss_answer(self.state, inverter)["midboxData"])
        inverter.advance(now)
        codes = {"faultCode": inverter.fault_code, "warningCode": inverter.warning_code}
        modules = [
            module for module in battery_answer(inverter).get("batteryArray", []) if not module["lost"]
        ]
        words = registers.encode_inputs(runtime_answer(inverter) | energy_answer(inverter) | codes)
        # Register 96: the modules in the bank (pylxpweb `battery_parallel_count`, luxpower-ha
        # `I_BAT_PARALLEL_NUM`). The bridge does not read it (both report it under-counting); pylxpweb
        # reads the slots only when it is set.
        return words | {96: len(modules)} | batteries.encode_bank(modules)

    def apply(self, inverter: SimInverter, written: dict[int, int], transport: str = "dongle") -> int | None:
        """Apply register writes as the cloud's parameters; the exception code when refused. `transport` names
        the way they came in (`local`: the dongle; `modbus_tcp`: an RS485 adapter)."""
        held = _held(inverter)
        touched = {
            name: encoding
            for name, encoding in registers.HOLDING.items()
            if encoding.register in written
            and (name in inverter.registers or name == QUICK_CHARGE_TASK)
            and name in held
        }
        if not touched or set(written) - {encoding.register for encoding in touched.values()}:
            return ILLEGAL_ADDRESS  # a register this simulation does not keep
        if set(written) & inverter.refused_registers:
            return ILLEGAL_ADDRESS  # as the firmware answers a register it refuses
        words = self.holding(inverter) | written
        for name, encoding in touched.items():
            refusal = self._apply_one(inverter, name, encoding.decode(words), held.get(name), transport)
            if refusal is not None:
                return ILLEGAL_VALUE
        return None

    def _apply_one(
        self, inverter: SimInverter, name: str, value: FieldValue, held: object, transport: str
    ) -> str | None:
        """One parameter of a register write, through the state's method for its kind; the refusal text."""
        serial = inverter.serial
        if name == QUICK_CHARGE_TASK:
            # The bit starts or stops a quick charge; a write of its register's other bits leaves it be.
            changed = value != held
            return self.state.set_quick_charge(serial, bool(value), transport) if changed else None
        if isinstance(value, bool):
            return self.state.set_function(serial, name, value, transport=transport)
        return self.state.write(serial, name, str(value), transport=transport)

    # -- the protocol ---------------------------------------------------------------------------------

    def answer(self, request: Frame) -> bytes | None:  # noqa: PLR0911 (one return per kind of request)
        """The reply to one request (`None`: none)."""
        function, start = request.modbus_function, request.start or 0
        inverter = self.inverter_behind(request.dongle_serial, request.inverter_serial or "")
        if inverter is None or function is None:
            known = self.state.inverters.get(request.inverter_serial or "")
            if known is not None:
                # Addressed to another dongle: no answer, but the heartbeat a real dongle sends now and
                # then names it (this one at once, so that tests need not wait for it).
                return frames.heartbeat(self.state.dongle_serial(known.serial))
            return None  # for another dongle: a real one would never see it
        serial = inverter.serial
        if function in (ModbusFunction.READ_HOLDING, ModbusFunction.READ_INPUT):
            count = request.values[0] if request.values else 0
            self.state.requests[f"dongle:read_{'holding' if function == 3 else 'input'}"] += 1
            if not 0 < count <= min(MAX_READ, self.state.dongle_faults.max_read):
                return self._exception(request, ILLEGAL_VALUE)
            if refuses_read(inverter, function, start, count):
                return self._exception(request, ILLEGAL_ADDRESS)
            words = self.holding(inverter) if function == 3 else self.inputs(inverter)
            values = [words.get(start + offset, 0) for offset in range(count)]
            dongle = request.dongle_serial
            return frames.read_reply(dongle, serial, ModbusFunction(function), start, values)
        if function in (ModbusFunction.WRITE_SINGLE, ModbusFunction.WRITE_MULTIPLE):
            self.state.requests["dongle:write"] += 1
            written = {start + offset: value for offset, value in enumerate(request.values)}
            code = self.apply(inverter, written)
            if code is not None:
                return self._exception(request, code)
            return _write_reply(request)
        return self._exception(request, 1)

    def _exception(self, request: Frame, code: int) -> bytes:
        function = (request.modbus_function or 0) | frames.EXCEPTION_BIT
        data = bytes([1, function]) + request.data[2:14] + bytes([code])
        return frames.frame(TcpFunction.TRANSLATED, request.dongle_serial, data)

    async def close_connections(self) -> None:
        """End every open connection, as a dongle that is switched off, and wait for their handlers."""
        for writer in list(self._open):
            writer.close()
        handlers = list(self._open.values())
        if handlers:
            await asyncio.wait(handlers, timeout=2)

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        if task is not None:
            self._open[writer] = task
        buffer = bytearray()
        try:
            while data := await reader.read(4096):
                buffer.extend(data)
                if not buffer.startswith(frames.PREFIX[:1]) or _tls_hello(buffer):
                    # Not our protocol (a TLS probe, say): say who we are with a heartbeat, as a
                    # plain-frame dongle does, and forget the bytes.
                    buffer.clear()
                    writer.write(_heartbeat(self.state))
                    continue
                for raw in _whole_frames(buffer):
                    if not await self._answer_frame(raw, writer):
                        return
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._open.pop(writer, None)
            writer.close()

    async def _answer_frame(self, raw: bytes, writer: asyncio.StreamWriter) -> bool:
        """Answer one frame; false when the connection is to be closed."""
        try:
            request = frames.decode(raw)
        except FrameError as exc:
            log.info("simulated_dongle_bad_frame", reason=str(exc))
            return True
        if request.tcp_function != TcpFunction.TRANSLATED or request.action != 0:
            return True  # heartbeats echoed back by a client, and anything else: nothing to say
        faults = self.state.dongle_faults
        is_write = request.modbus_function in (ModbusFunction.WRITE_SINGLE, ModbusFunction.WRITE_MULTIPLE)
        fault = faults.take(write=is_write)
        if faults.silent or fault == "silence":
            return True
        if fault in ("exception", "exception_on_write"):
            writer.write(self._exception(request, DEVICE_FAILURE))
            return True
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        return self._reply(request, fault, writer)

    def _reply(self, request: Frame, fault: str | None, writer: asyncio.StreamWriter) -> bool:
        """Apply the request and answer it, as the fault says; false when the connection is to be closed."""
        reply = self.answer(request)
        if fault == "drop_mid_write":
            return False  # applied, and never answered
        if fault == "silence_after_write":
            return True  # applied, never answered, and the connection left open
        if fault == "misrouted_reply":
            writer.write(_misrouted(request))
        if fault == "heartbeat_first":
            writer.write(_heartbeat(self.state, request.dongle_serial))
        if reply is not None:
            writer.write(reply)
        return True


def _held(inverter: SimInverter) -> dict[str, str | bool | int | None]:
    """What the inverter holds in its registers, by the cloud's names: its parameters, and whether a
    quick charge runs (register 233 bit 0; the cloud answers it in a status of its own)."""
    if not inverter.has_battery_parameters:
        return inverter.values
    return inverter.values | {QUICK_CHARGE_TASK: inverter.quick_charging}


def _identity(inverter: SimInverter) -> dict[int, int]:
    """The identity registers: the power rating in register 0's bits 5-7 (and register 1's bit 8 for 8
    and above), the device type code in register 19 (a GridBOSS's: 50, and no rating)."""
    if not inverter.has_battery_parameters:
        return {0: 0, 1: 0, 19: gridboss.DEVICE_TYPE_CODE}
    rating = int(str(inverter.values.get("HOLD_MODEL_powerRating", 0)))
    code = str(inverter.values.get("HOLD_DEVICE_TYPE_CODE", "0"))
    return {0: (rating & 0x7) << 5, 1: 0x100 if rating & 0x8 else 0, 19: int(code) if code.isdigit() else 0}


def _write_reply(request: Frame) -> bytes:
    """A write's answer: the request echoed as a response (a write-single echoes the value)."""
    data = b"\x01" + request.data[1:16]
    return frames.frame(TcpFunction.TRANSLATED, request.dongle_serial, data)


def _misrouted(request: Frame) -> bytes:
    """A reply meant for someone else: another inverter, another start register."""
    other = "0000000000" if request.inverter_serial != "0000000000" else "1111111111"
    function = ModbusFunction(request.modbus_function or 3)
    if function not in (ModbusFunction.READ_HOLDING, ModbusFunction.READ_INPUT):
        function = ModbusFunction.READ_HOLDING
    return frames.read_reply(request.dongle_serial, other, function, (request.start or 0) + 1, [0xBEEF])


def _heartbeat(state: SimulatorState, dongle_serial: str | None = None) -> bytes:
    if dongle_serial is None:
        first = next(iter(state.inverters), "0000000000")
        dongle_serial = state.dongle_serial(first)
    return frames.heartbeat(dongle_serial)


def _tls_hello(buffer: bytearray) -> bool:
    return buffer[:1] == b"\x16"


def _whole_frames(buffer: bytearray) -> list[bytes]:
    found: list[bytes] = []
    while len(buffer) >= 6:
        if not buffer.startswith(frames.PREFIX):
            start = buffer.find(frames.PREFIX)
            del buffer[: start if start > 0 else len(buffer)]
            continue
        length = int.from_bytes(buffer[4:6], "little")
        if len(buffer) < 6 + length:
            break
        found.append(bytes(buffer[: 6 + length]))
        del buffer[: 6 + length]
    return found


@contextlib.asynccontextmanager
async def serving(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    close_connections: Callable[[], Awaitable[None]],
    host: str,
    port: int,
) -> AsyncIterator[int]:
    """A TCP server of the simulator's until the block ends; yields its port (`0` picks a free one). At the
    end its open connections are closed, as a device switched off would close them."""
    server = await asyncio.start_server(handler, host, port)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await close_connections()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                await server.wait_closed()


@contextlib.asynccontextmanager
async def serve_dongles(
    dongles: SimulatedDongles, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[int]:
    """Serve the dongles until the block ends; yields the port (`0` picks a free one)."""
    async with serving(dongles.serve_connection, dongles.close_connections, host, port) as bound:
        yield bound
