"""Fakes at the bridge's own seams: a clock that moves only when told, a transport to a scripted inverter, and a
listener that records what the write queue says. No broker, no server, no sleeping."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bridge.core.catalogue import Setting
from bridge.core.commands import Command, Result
from bridge.core.errors import TransientError, TransportError
from bridge.core.writes import Delivery


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


@dataclass
class FakeTransport:
    """One inverter's settings behind a scripted transport. Each write takes the next entry of `on_write`
    (an exception to raise, or "ignore": the cloud says yes but the inverter keeps its value), then applies;
    each read fails while `failing_reads` lasts."""

    held: dict[str, str] = field(default_factory=dict)
    on_write: list[BaseException | str] = field(default_factory=list)
    failing_reads: int = 0
    sent: list[str] = field(default_factory=list)
    #: The way the writes go, as a result's `via` says.
    via: str = "cloud"

    async def write(self, serial: str, setting: Setting, value: str) -> Delivery:
        self.sent.append(value)
        behaviour = self.on_write.pop(0) if self.on_write else "apply"
        if isinstance(behaviour, BaseException):
            raise behaviour
        if behaviour == "apply":
            self.held[setting.key] = value
        return Delivery(1, self.via)

    async def read(self, serial: str, setting: Setting) -> str:
        if self.failing_reads > 0:
            self.failing_reads -= 1
            raise TransientError("no answer from the cloud within 30 s")
        return self.held[setting.key]


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
