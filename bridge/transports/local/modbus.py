"""Modbus to an adapter on the inverter's RS485 port, through pymodbus: TCP to an RS485-to-Ethernet adapter (a
Waveshare or similar), or RTU through a USB-to-RS485 adapter's serial device. The same registers the dongle
reads and writes, over one connection kept open, one request at a time.

It offers what `RegisterTransport` asks of a connection (read, write one register, write several, close,
counts), and fails with the local transports' error kinds, which say whether a request may have reached the
inverter: the router never sends again elsewhere what may have landed. pymodbus's own retries are off for
the same reason. No cloud, no MQTT.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import structlog
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient, ModbusBaseClient
from pymodbus.exceptions import ModbusException

from bridge.core.config import ModbusSettings
from bridge.transports.local.dongle import (
    LocalDroppedError,
    LocalSilentError,
    LocalStats,
    LocalUnreachableError,
    ModbusExceptionError,
)
from bridge.transports.local.frames import ModbusFunction

log = structlog.get_logger(__name__)

#: A pause after each request: none, as no public source names one the firmware needs (one request at a
#: time is kept by the lock; RTU's silence between frames by pymodbus's framer).
PAUSE_SECONDS: Final = 0.0


class ModbusLine:
    """One adapter's connection, shared by every inverter on its RS485 line (a serial device opens once):
    one request at a time over it."""

    def __init__(self) -> None:
        self.client: ModbusBaseClient | None = None
        self.lock = asyncio.Lock()


class ModbusConnection:
    """Requests to one inverter behind a Modbus adapter, one at a time, over one connection: TCP to an
    RS485-to-Ethernet adapter, or RTU through a USB-to-RS485 adapter's serial device (`line`: shared with
    the other inverters on the same device)."""

    def __init__(self, adapter: ModbusSettings, line: ModbusLine | None = None) -> None:
        self._adapter = adapter
        self._line = line or ModbusLine()
        self._unit = adapter.unit
        self._timeout = adapter.timeout_seconds
        place = adapter.device if adapter.device is not None else f"{adapter.host}:{adapter.port}"
        self._where = f"the Modbus adapter at {place} (unit {adapter.unit})"
        self.stats = LocalStats()

    async def close(self) -> None:
        async with self._line.lock:
            self._drop()

    def _drop(self) -> None:
        if self._line.client is not None:
            self._line.client.close()
            self._line.client = None

    def _client_for(self) -> ModbusBaseClient:
        # No retries, no reconnecting behind our back: each request goes once, and is ours to repeat.
        adapter = self._adapter
        if adapter.device is not None:
            return AsyncModbusSerialClient(
                adapter.device,
                baudrate=adapter.baudrate,
                parity=adapter.parity,
                stopbits=adapter.stopbits,
                bytesize=8,
                timeout=self._timeout,
                retries=0,
                reconnect_delay=0,
            )
        assert adapter.host is not None
        return AsyncModbusTcpClient(
            adapter.host, port=adapter.port, timeout=self._timeout, retries=0, reconnect_delay=0
        )

    def _serial_problem(self) -> str | None:
        """What is wrong with the serial device, in words an owner can act on, or `None`."""
        device = self._adapter.device
        if device is None:
            return None
        if not os.path.exists(device):
            return f"there is no serial device {device}: is the USB-RS485 adapter plugged in, at that path?"
        if not os.access(device, os.R_OK | os.W_OK):
            return (
                f"permission denied on {device}: let the bridge's user use serial ports (the dialout group "
                "on Debian and Ubuntu)"
            )
        return None

    async def _connected(self) -> ModbusBaseClient:
        if self._line.client is not None and self._line.client.connected:
            return self._line.client
        self._drop()
        problem = self._serial_problem()
        if problem is not None:
            raise LocalUnreachableError(problem, sent=False)
        client = self._client_for()
        try:
            async with asyncio.timeout(self._timeout):
                connected = await client.connect()
        except (TimeoutError, OSError) as exc:
            connected = False
            log.debug("modbus_connect_failed", adapter=self._where, error=str(exc))
        if not connected:
            client.close()
            raise LocalUnreachableError(
                f"cannot connect to {self._where}: refused or not answering", sent=False
            )
        self._line.client = client
        return client

    async def read(self, inverter: str, function: ModbusFunction, start: int, count: int) -> tuple[int, ...]:
        """`count` holding or input registers from `start`; asked once more on a new connection if the
        first was lost (a read changes nothing)."""
        for attempt in (1, 2):
            try:
                answer = await self._exchange(
                    lambda client: (
                        client.read_holding_registers(start, count=count, device_id=self._unit)
                        if function == ModbusFunction.READ_HOLDING
                        else client.read_input_registers(start, count=count, device_id=self._unit)
                    ),
                    f"read of {count} registers from {start}",
                )
            except LocalDroppedError:
                if attempt == 2:
                    raise
                continue
            registers = tuple(int(value) for value in answer.registers)
            if len(registers) != count:
                raise LocalSilentError(
                    f"{self._where} answered {len(registers)} of {count} registers", sent=True
                )
            return registers
        raise AssertionError("unreachable")  # pragma: no cover

    async def write_single(self, inverter: str, register: int, value: int) -> None:
        """One register (function 6). Never sent twice."""
        await self._exchange(
            lambda client: client.write_register(register, value, device_id=self._unit),
            f"write of register {register}",
        )

    async def write_multiple(self, inverter: str, start: int, values: list[int]) -> None:
        await self._exchange(
            lambda client: client.write_registers(start, values, device_id=self._unit),
            f"write of {len(values)} registers from {start}",
        )

    async def _exchange(self, request: Callable[[ModbusBaseClient], Awaitable[Any]], what: str) -> Any:
        started = time.perf_counter()
        outcome = "ok"
        try:
            async with self._line.lock:
                client = await self._connected()
                self.stats.requests += 1
                try:
                    answer = await request(client)
                except ModbusException as exc:
                    # No answer in time, or the connection lost with the request out: it may have landed.
                    self._drop()
                    text = str(exc).lower()
                    if "timeout" in text or "no response" in text:
                        raise LocalSilentError(
                            f"{self._where} did not answer within {self._timeout:g} s", sent=True
                        ) from exc
                    raise LocalDroppedError(
                        f"the connection to {self._where} ended before it answered", sent=True
                    ) from exc
                finally:
                    await asyncio.sleep(PAUSE_SECONDS)
                if answer.isError():
                    code = int(getattr(answer, "exception_code", 0) or 0)
                    raise ModbusExceptionError(
                        f"the inverter refused the {what} (Modbus exception {code})", code
                    )
                return answer
        except (LocalUnreachableError, LocalSilentError, ModbusExceptionError) as exc:
            outcome = type(exc).__name__
            raise
        finally:
            log.debug(
                "modbus_exchange",
                adapter=self._where,
                request=what,
                outcome=outcome,
                seconds=round(time.perf_counter() - started, 3),
            )
