"""The write queue: one write at a time per inverter, spaced apart, the latest command for a setting winning,
each write read back, and one result per command. A write whose fate is unknown is never sent again; it is
read again later, and a late landing that undid a newer confirmed command is undone once.

It knows no transport and no MQTT: it writes through a `SettingsTransport` (the router), waits on a
`Clock`, and tells a `Listener` what happened. Tests give it fakes of all three.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Final, Protocol

import structlog

from bridge.core.clock import Clock
from bridge.core.commands import Applied, Command, Outcome, Result
from bridge.core.errors import (
    MalformedResponseError,
    OutcomeUnknownError,
    RefusedError,
    TransportError,
    ValueUnreadable,
)
from bridge.core.kinds import Setting
from bridge.core.policy import Write

log = structlog.get_logger(__name__)

#: A setting of an inverter: its serial and the setting's key.
WriteKey = tuple[str, str]
#: How long after a write of unknown fate a read that finds its value takes it for that write landing late.
LATE_LANDING_SECONDS: Final = 600.0
#: Who accepted a write, by the transport it went through, as results say it.
ACCEPTED_BY: Final = {
    "cloud": "the cloud",
    "dongle": "the dongle",
    "modbus_tcp": "the RS485 adapter",
    "modbus_rtu": "the RS485 adapter",
}


@dataclass(frozen=True, slots=True)
class Delivery:
    """How a write went out: how many times a request was sent, and through which transport (`cloud`,
    `dongle`, `modbus_tcp`, `modbus_rtu`)."""

    attempts: int
    via: str


class SettingsTransport(Protocol):
    """The transport to an inverter's settings (the router), as the queue needs it."""

    async def write(self, serial: str, setting: Setting, value: str) -> Delivery:
        """Write `value` (canonical text). Raises `TransportError` (a subclass says which kind: refused,
        transient, unknown outcome; its `via` says which way it failed, when known)."""

    async def read(self, serial: str, setting: Setting) -> str:
        """What the inverter holds now, as canonical text. Raises `TransportError` or `CommandRefused`."""


class Listener(Protocol):
    """What the queue tells the rest of the bridge."""

    def answer(self, command: Command, result: Result) -> None:
        """Publish a command's result."""

    def read_holding(self, serial: str, setting: Setting, value: str) -> None:
        """The inverter was read holding `value`: publish it."""

    def wrote(self, serial: str) -> None:
        """A write went through: the inverter's settings (and its parallel group's) may have changed."""

    def transport_answered(self, serial: str) -> None: ...

    def transport_failed(self, serial: str, error: TransportError) -> None: ...


@dataclass(frozen=True, slots=True)
class ConfirmedWrite:
    """The newest command whose write was read back holding its value: its send's sequence number, the
    value, and the command, to answer should a late landing undo it."""

    sequence: int
    value: str
    command: Command


@dataclass(slots=True)
class SettingHistory:
    """What this bridge sent to one setting of one inverter, to recognise a late write that undid a newer
    command: the sequence number of the latest send of each value that may have been applied, and the
    newest confirmed command."""

    maybe_applied: dict[str, int] = field(default_factory=dict)
    confirmed: ConfirmedWrite | None = None
    #: Values sent by writes whose outcome was unknown, not yet seen landing late: the sequence of the
    #: write and when it was sent. Any read of the setting within `LATE_LANDING_SECONDS` that finds one of
    #: them over a newer confirmed command undoes it, once.
    unknown: dict[str, tuple[int, float]] = field(default_factory=dict)


class WriteQueue:
    """The write queue: one write at a time per inverter, spaced apart, each read back and answered."""

    def __init__(
        self,
        transport: SettingsTransport,
        clock: Clock,
        listener: Listener,
        *,
        spacing: float,
        recheck_after: float,
    ) -> None:
        self._transport = transport
        self._clock = clock
        self._listener = listener
        self._spacing = spacing
        self._recheck_after = recheck_after
        self._pending: dict[WriteKey, tuple[Command, Write]] = {}
        self._busy: set[WriteKey] = set()
        self._gates: dict[str, asyncio.Lock] = {}
        self._last_write: dict[str, float] = {}
        self._history: dict[WriteKey, SettingHistory] = {}
        self._sequence = itertools.count(1)
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: asyncio.TaskGroup | None = None

    def start(self, tasks: asyncio.TaskGroup) -> None:
        """Writes and rechecks run as tasks of `tasks`, and end with it."""
        self._tasks = tasks

    def submit(self, command: Command, write: Write) -> None:
        """Queue a write, replacing (and answering) a command for the same setting still waiting."""
        if self._tasks is None:
            raise RuntimeError("WriteQueue.start() must be called first")
        key = (command.serial, write.setting.key)
        superseded = self._pending.get(key)
        if superseded is not None:
            later = f"superseded by a later command ({command.requested})"
            self._listener.answer(superseded[0], Result(Outcome.SUPERSEDED, error=later))
        self._pending[key] = (command, write)
        if key not in self._busy:
            self._busy.add(key)
            self._idle.clear()
            self._tasks.create_task(self._write_in_turn(key), name=f"write-{key}")

    def refuse_waiting(self, reason: str) -> None:
        """Answer every command still waiting with `reason`, and forget them (at shutdown)."""
        for command, _write in self._pending.values():
            self._listener.answer(command, Result(Outcome.REFUSED, error=reason))
        self._pending.clear()

    async def wait_idle(self) -> None:
        """Until no write is waiting or in flight."""
        await self._idle.wait()

    async def _write_in_turn(self, key: WriteKey) -> None:
        """Write the latest command waiting for one setting until none waits."""
        try:
            while key in self._pending:
                async with self._spaced(key[0]):
                    waiting = self._pending.pop(key, None)
                    if waiting is None:
                        break
                    await self._write(*waiting)
        finally:
            self._busy.discard(key)
            if not self._busy:
                self._idle.set()

    @contextlib.asynccontextmanager
    async def _spaced(self, serial: str) -> AsyncIterator[None]:
        """One write at a time per inverter, `spacing` seconds after the previous one ended."""
        async with self._gates.setdefault(serial, asyncio.Lock()):
            previous = self._last_write.get(serial)
            if previous is not None:
                await self._clock.sleep(max(0.0, previous + self._spacing - self._clock.now()))
            try:
                yield
            finally:
                self._last_write[serial] = self._clock.now()

    async def _write(self, command: Command, write: Write) -> None:
        serial, setting, value = command.serial, write.setting, write.value
        shown = setting.json_value(value)
        history = self._history.setdefault((serial, setting.key), SettingHistory())
        sequence = next(self._sequence)
        try:
            delivery = await self._transport.write(serial, setting, value)
        except (OutcomeUnknownError, MalformedResponseError) as exc:
            # It reached the inverter's transport, and no answer says what became of it.
            history.maybe_applied[value] = sequence
            history.unknown[value] = (sequence, self._clock.now())
            self._answer_unknown(command, write, sequence, exc)
            return
        except RefusedError as exc:
            # Refused after part of it landed: not "not applied", and the next refresh shows what is held.
            applied: Applied = "unknown" if exc.partial else False
            failed = Result(
                Outcome.FAILED, error=exc.server_text, applied=applied, attempts=exc.attempts, via=exc.via
            )
            self._listener.answer(command, failed)
            if exc.partial:
                self._listener.wrote(serial)
            return
        except TransportError as exc:
            self._listener.transport_failed(serial, exc)
            failed = Result(Outcome.FAILED, error=exc.message, attempts=exc.attempts, via=exc.via)
            self._listener.answer(command, failed)
            return
        except asyncio.CancelledError:
            history.maybe_applied[value] = sequence
            stopped = "the bridge stopped before the transport answered; it may have been applied"
            unknown = Result(Outcome.UNKNOWN, value=shown, error=stopped, applied="unknown", attempts=1)
            self._listener.answer(command, unknown)
            raise
        history.maybe_applied[value] = sequence
        self._listener.transport_answered(serial)
        self._listener.wrote(serial)
        held = await self._read_back(serial, setting)
        attempts, via = delivery.attempts, delivery.via
        if held == value:
            history.confirmed = ConfirmedWrite(sequence, value, command)
            result = Result(
                Outcome.ACCEPTED, value=shown, applied=True, confirmed=True, attempts=attempts, via=via
            )
        else:
            problem = (
                "written, but reading it back failed; the next refresh will show what the inverter holds"
                if held is None
                else f"{ACCEPTED_BY.get(via or '', 'the transport')} accepted {value}, but the "
                f"inverter holds {held}"
            )
            result = Result(
                Outcome.UNCONFIRMED, value=shown, error=problem, applied=True, attempts=attempts, via=via
            )
        self._listener.answer(command, result)

    def _answer_unknown(self, command: Command, write: Write, sequence: int, error: TransportError) -> None:
        """Say that the write's fate is unknown, and find it out once the transport has had time to act."""
        delay = self._recheck_after
        why = (
            f"{error.message}; the write may or may not have been applied, and was not sent again. "
            f"The setting will be read again in {delay:g} s"
        )
        shown = write.setting.json_value(write.value)
        unknown = Result(
            Outcome.UNKNOWN, value=shown, error=why, applied="unknown", attempts=error.attempts, via=error.via
        )
        self._listener.answer(command, unknown)
        assert self._tasks is not None
        self._tasks.create_task(self._recheck(command, write, sequence), name=f"recheck-{command.serial}")

    async def _recheck(self, command: Command, write: Write, sequence: int) -> None:
        """After a write of unknown fate: read the setting, publish it, and undo a late landing over a newer
        confirmed command of this bridge, once. A value nobody sent through the bridge is left alone."""
        await self._clock.sleep(self._recheck_after)
        serial, setting, value = command.serial, write.setting, write.value
        shown = setting.json_value(value)
        key = (serial, setting.key)
        held = await self._read_back(serial, setting)
        if held is None:
            problem = f"reading {setting.name} again failed, so whether {value} was applied is still unknown"
            self._listener.answer(
                command, Result(Outcome.RECHECKED, value=shown, error=problem, applied="unknown")
            )
            return
        history = self._history[key]
        newest = history.confirmed
        newer_written = newest is not None and newest.sequence > sequence
        if newest is not None and newer_written and held != newest.value:
            from_older = history.maybe_applied.get(held, newest.sequence) < newest.sequence
            if from_older and key not in self._pending and key not in self._busy:
                history.unknown.pop(held, None)  # undone here: once
                await self._reassert(setting, held, newest.value, newest.command)
                return
        found = setting.json_value(held)
        if held == value:
            result = Result(Outcome.RECHECKED, value=shown, applied=True, confirmed=True, found=found)
        else:
            applied: Applied = "unknown" if newer_written else False
            later = " (a later command was written since)" if newer_written else ""
            problem = f"the inverter holds {held}, not {value}{later}"
            result = Result(Outcome.RECHECKED, value=shown, error=problem, applied=applied, found=found)
        self._listener.answer(command, result)

    async def _reassert(self, setting: Setting, found: str, value: str, newest: Command) -> None:
        """A late write of an older command undid `newest`: write its value again, once, and say so."""
        serial = newest.serial
        log.warning(
            "late_write_undid_newer_command", serial=serial, setting=setting.key, found=found, rewrite=value
        )
        why = f"the inverter held {found} from an older command that landed late; {value} was written again"
        shown, was = setting.json_value(value), setting.json_value(found)
        async with self._spaced(serial):
            try:
                delivery = await self._transport.write(serial, setting, value)
            except TransportError as exc:
                applied: Applied = "unknown" if isinstance(exc, OutcomeUnknownError) else False
                failure = f"{why}, but the write failed: {exc.message}"
                failed = Result(
                    Outcome.REASSERTED,
                    value=shown,
                    error=failure,
                    applied=applied,
                    attempts=exc.attempts,
                    found=was,
                    via=exc.via,
                )
                self._listener.answer(newest, failed)
                return
            held = await self._read_back(serial, setting)
        confirmed = held == value
        taken: Applied = True if confirmed else ("unknown" if held is None else False)
        if confirmed:
            error = None
        elif held is None:
            error = f"{why}, but reading it back failed, so whether it was taken is unknown"
        else:
            error = f"{why}, but the inverter did not take it: it holds {held}"
        result = Result(
            Outcome.REASSERTED,
            value=shown,
            error=error,
            applied=taken,
            confirmed=confirmed,
            attempts=delivery.attempts,
            found=was,
            via=delivery.via,
        )
        self._listener.answer(newest, result)

    def observed(self, serial: str, setting: Setting, held: str) -> None:
        """A read of the setting (a poll, a read-back) found `held`. When that is the value of an earlier
        write of unknown fate that landed after a newer confirmed command, write the newer value again,
        once, and answer the newer command saying so."""
        key = (serial, setting.key)
        history = self._history.get(key)
        if history is None or history.confirmed is None or self._tasks is None:
            return
        newest = history.confirmed
        late = history.unknown.get(held)
        if held == newest.value or late is None:
            return
        sequence, sent_at = late
        if self._clock.now() - sent_at > LATE_LANDING_SECONDS:
            del history.unknown[held]  # too long ago to be that write: someone else set it
            return
        if sequence > newest.sequence or key in self._pending or key in self._busy:
            return
        del history.unknown[held]
        self._busy.add(key)
        self._idle.clear()
        self._tasks.create_task(self._reassert_in_turn(key, setting, held, newest.value, newest.command))

    async def _reassert_in_turn(
        self, key: WriteKey, setting: Setting, found: str, value: str, newest: Command
    ) -> None:
        try:
            await self._reassert(setting, found, value, newest)
        finally:
            self._busy.discard(key)
            if key in self._pending and self._tasks is not None:
                # A command arrived meanwhile: it waited for this write, and goes now.
                self._busy.add(key)
                self._tasks.create_task(self._write_in_turn(key), name=f"write-{key}")
            elif not self._busy:
                self._idle.set()

    async def _read_back(self, serial: str, setting: Setting) -> str | None:
        """What the inverter holds now, told to the listener; `None` if that is not known."""
        try:
            held = await self._transport.read(serial, setting)
        except (TransportError, KeyError, ValueUnreadable) as exc:
            log.warning("read_back_failed", serial=serial, setting=setting.key, error=str(exc))
            return None
        self._listener.read_holding(serial, setting, held)
        return held
