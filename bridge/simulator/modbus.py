"""The simulated RS485 adapters: Modbus TCP (MBAP framing, functions 3, 4, 6 and 16) for every simulated
inverter on one port, and Modbus RTU on a pseudo-terminal (a USB-to-RS485 adapter's serial line), the unit id
naming the inverter (1 for the first, 2 for the second, ...), over the same registers as the simulated dongles
and the same state as the simulated cloud.

Faults come from the same queue as the dongles' (`POST /_sim/dongle_faults`): `silence`, `exception`,
`exception_on_write`, `silence_after_write`, `drop_mid_write`, and `latency_ms`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
import tty
from collections.abc import AsyncIterator
from typing import Final

from bridge.simulator.dongle import (
    ILLEGAL_ADDRESS,
    ILLEGAL_VALUE,
    MAX_READ,
    SimulatedDongles,
    refuses_read,
    serving,
)
from bridge.simulator.state import SimInverter, SimulatorState
from bridge.transports.local.frames import crc16_modbus

DEVICE_FAILURE: Final = 4
READS: Final = (3, 4)
WRITES: Final = (6, 16)


class SimulatedAdapters:
    """RS485 adapters on the simulated inverters (unit N is the Nth inverter) and on the GridBOSS (the unit
    after the last inverter)."""

    def __init__(self, state: SimulatorState) -> None:
        self.state = state
        self.registers = SimulatedDongles(state)
        self._open: set[asyncio.StreamWriter] = set()

    def inverter_of(self, unit: int) -> SimInverter | None:
        """The inverters on units 1, 2, ..., then the GridBOSS (its own adapter, on the next unit)."""
        every = self.state.inverters.values()
        devices = [d for d in every if d.has_battery_parameters] + [
            d for d in every if not d.has_battery_parameters
        ]
        return devices[unit - 1] if 1 <= unit <= len(devices) else None

    def answer(self, unit: int, pdu: bytes, transport: str = "modbus_tcp") -> bytes:  # noqa: PLR0911 (one return per request)
        """The response PDU to one request PDU."""
        function = pdu[0]
        inverter = self.inverter_of(unit)
        if inverter is None:
            return bytes([function | 0x80, ILLEGAL_ADDRESS])
        if function in READS and len(pdu) == 5:
            start, count = struct.unpack(">HH", pdu[1:5])
            self.state.requests[f"modbus:read_{'holding' if function == 3 else 'input'}"] += 1
            if not 0 < count <= MAX_READ:
                return bytes([function | 0x80, ILLEGAL_VALUE])
            if refuses_read(inverter, function, start, count):
                return bytes([function | 0x80, ILLEGAL_ADDRESS])
            words = self.registers.holding(inverter) if function == 3 else self.registers.inputs(inverter)
            values = [words.get(start + offset, 0) for offset in range(count)]
            return bytes([function, 2 * count]) + struct.pack(f">{count}H", *values)
        if function == 6 and len(pdu) == 5:
            register, value = struct.unpack(">HH", pdu[1:5])
            return self._write(inverter, {register: value}, transport) or pdu
        if function == 16 and len(pdu) >= 6:
            start, count, size = *struct.unpack(">HH", pdu[1:5]), pdu[5]
            if size != 2 * count or len(pdu) != 6 + size:
                return bytes([function | 0x80, ILLEGAL_VALUE])
            written = struct.unpack(f">{count}H", pdu[6 : 6 + size])
            refusal = self._write(
                inverter, {start + offset: value for offset, value in enumerate(written)}, transport
            )
            return refusal or pdu[:5]
        return bytes([function | 0x80, 1])

    def _write(self, inverter: SimInverter, written: dict[int, int], transport: str) -> bytes | None:
        self.state.requests["modbus:write"] += 1
        code = self.registers.apply(inverter, written, transport=transport)
        return None if code is None else bytes([(6 if len(written) == 1 else 16) | 0x80, code])

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            while True:
                header = await reader.readexactly(7)
                transaction, _protocol, length, unit = struct.unpack(">HHHB", header)
                pdu = await reader.readexactly(length - 1)
                faults = self.state.dongle_faults
                fault = faults.take(write=pdu[0] in WRITES)
                if faults.silent or fault == "silence":
                    continue
                if faults.latency_ms:
                    await asyncio.sleep(faults.latency_ms / 1000)
                if fault in ("exception", "exception_on_write"):
                    response = bytes([pdu[0] | 0x80, DEVICE_FAILURE])
                else:
                    response = self.answer(unit, pdu)
                if fault == "drop_mid_write":
                    return  # applied, and never answered
                if fault == "silence_after_write":
                    continue  # applied, never answered, the connection left open
                writer.write(struct.pack(">HHHB", transaction, 0, len(response) + 1, unit) + response)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self._open.discard(writer)
            writer.close()

    async def close_connections(self) -> None:
        for writer in list(self._open):
            writer.close()


@contextlib.asynccontextmanager
async def serve_adapters(
    adapters: SimulatedAdapters, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[int]:
    """Serve Modbus TCP until the block ends; yields the port (`0` picks a free one)."""
    async with serving(adapters.serve_connection, adapters.close_connections, host, port) as bound:
        yield bound


class SimulatedSerialAdapter:
    """A USB-to-RS485 adapter's serial line, as a pseudo-terminal: the bridge opens `device` as it would
    /dev/ttyUSB0 and speaks Modbus RTU (unit, PDU, CRC-16/Modbus) to the same simulated inverters."""

    def __init__(self, adapters: SimulatedAdapters) -> None:
        self._adapters = adapters
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.device = os.ttyname(self._slave)
        self._buffer = bytearray()

    def start(self) -> None:
        asyncio.get_running_loop().add_reader(self._master, self._readable)

    def close(self) -> None:
        with contextlib.suppress(ValueError, RuntimeError):
            asyncio.get_running_loop().remove_reader(self._master)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _readable(self) -> None:
        try:
            self._buffer.extend(os.read(self._master, 4096))
        except OSError:
            return
        while (frame := self._next_frame()) is not None:
            self._answer(frame)

    def _next_frame(self) -> bytes | None:
        """One whole request: unit, function, its fields, CRC (the length follows from the function)."""
        buffer = self._buffer
        if len(buffer) < 2:
            return None
        function = buffer[1]
        if function in (3, 4, 6):
            size = 8
        elif function == 16:
            if len(buffer) < 7:
                return None
            size = 9 + buffer[6]
        else:
            buffer.clear()  # nothing this line speaks: drop it, as a device would
            return None
        if len(buffer) < size:
            return None
        frame = bytes(buffer[:size])
        del buffer[:size]
        return frame

    def _answer(self, frame: bytes) -> None:
        unit, pdu, crc = frame[0], frame[1:-2], int.from_bytes(frame[-2:], "little")
        if crc != crc16_modbus(frame[:-2]):
            return  # a damaged frame: a device stays silent
        faults = self._adapters.state.dongle_faults
        fault = faults.take(write=pdu[0] in WRITES)
        if faults.silent or fault in ("silence", "drop_mid_write"):
            return
        if fault in ("exception", "exception_on_write"):
            response = bytes([pdu[0] | 0x80, DEVICE_FAILURE])
        else:
            response = self._adapters.answer(unit, pdu, transport="modbus_rtu")
        if fault == "silence_after_write":
            return
        body = bytes([unit]) + response
        os.write(self._master, body + crc16_modbus(body).to_bytes(2, "little"))


@contextlib.asynccontextmanager
async def serve_serial_adapter(adapters: SimulatedAdapters) -> AsyncIterator[str]:
    """A simulated USB-to-RS485 adapter until the block ends; yields its serial device's path."""
    line = SimulatedSerialAdapter(adapters)
    line.start()
    try:
        yield line.device
    finally:
        line.close()
