"""The write queue, with a fake clock, a scripted inverter and a recording listener: latest wins, spacing,
read-back, one result per command, and what happens when a write's fate is unknown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

from bridge.core.catalogue import BATTERY_CHARGE_CURRENT, BATTERY_DISCHARGE_CURRENT, NumberSetting, Setting
from bridge.core.commands import Command, Outcome, Result
from bridge.core.errors import OutcomeUnknownError, RefusedError, TransientError
from bridge.core.policy import Write
from bridge.core.writes import Delivery, WriteQueue
from tests.unit.fakes import FakeClock, FakeTransport, RecordingListener, settle

SERIAL = "4512345600"
CHARGE = BATTERY_CHARGE_CURRENT.key


def command(value: int, parameter: NumberSetting = BATTERY_CHARGE_CURRENT) -> tuple[Command, Write]:
    topic = f"eg4/{SERIAL}/{parameter.topic_path}/set"
    return Command(topic, SERIAL, parameter.topic_path, str(value).encode(), False), Write(
        parameter, str(value)
    )


@dataclass
class Rig:
    queue: WriteQueue
    transport: FakeTransport
    clock: FakeClock
    listener: RecordingListener

    async def send(self, value: int, parameter: NumberSetting = BATTERY_CHARGE_CURRENT) -> None:
        self.queue.submit(*command(value, parameter))
        await settle()

    def last(self) -> Result:
        return self.listener.results[-1][1]


@asynccontextmanager
async def rig(*, spacing: float = 0.0, recheck_after: float = 15.0) -> AsyncIterator[Rig]:
    transport = FakeTransport(held={CHARGE: "25", BATTERY_DISCHARGE_CURRENT.key: "250"})
    clock, listener = FakeClock(), RecordingListener()
    queue = WriteQueue(transport, clock, listener, spacing=spacing, recheck_after=recheck_after)
    async with asyncio.TaskGroup() as tasks:
        queue.start(tasks)
        yield Rig(queue, transport, clock, listener)
        await clock.advance(3600)  # let every recheck run before the group ends


async def test_a_write_read_back_holding_the_value_is_accepted_and_its_value_published() -> None:
    async with rig() as r:
        r.transport.via = "dongle"
        await r.send(80)
    assert r.listener.results[0][1] == Result(
        Outcome.ACCEPTED, value=80, applied=True, confirmed=True, attempts=1, via="dongle"
    )
    assert r.listener.held == [(SERIAL, CHARGE, "80")]
    assert (r.listener.written, r.listener.answered) == ([SERIAL], [SERIAL])


async def test_a_failed_read_back_is_never_counted_as_confirmed() -> None:
    async with rig() as r:
        r.transport.failing_reads = 1
        await r.send(80)
    assert r.last() == Result(
        Outcome.UNCONFIRMED,
        value=80,
        error="written, but reading it back failed; the next refresh will show what the inverter holds",
        applied=True,
        confirmed=False,
        attempts=1,
        via="cloud",
    )
    assert r.listener.held == []


async def test_a_value_read_back_that_differs_from_request_and_old_state_is_published() -> None:
    """The inverter keeps 25 although the cloud said yes, then shows 95 (its firmware's own clamp): the
    state must show what the inverter really holds."""
    async with rig() as r:
        r.transport.on_write = ["ignore"]
        r.transport.held[CHARGE] = "95"
        await r.send(80)
    assert r.last().outcome is Outcome.UNCONFIRMED
    assert r.last().error == "the cloud accepted 80, but the inverter holds 95"
    assert r.listener.held == [(SERIAL, CHARGE, "95")]


async def test_a_refusal_passes_the_clouds_words_and_nothing_is_applied() -> None:
    async with rig() as r:
        refusal = RefusedError("REMOTE_SET_ERROR", serial=SERIAL)
        r.transport.on_write = [refusal]
        await r.send(80)
    assert r.last() == Result(Outcome.FAILED, error="REMOTE_SET_ERROR", attempts=1)
    assert r.transport.held[CHARGE] == "25"


async def test_an_unreachable_cloud_is_reported_and_nothing_applied() -> None:
    async with rig() as r:
        unreachable = TransientError(
            "cannot reach the cloud at example: connection refused", maybe_delivered=False
        )
        unreachable.attempts = 4
        r.transport.on_write = [unreachable]
        await r.send(80)
    assert r.last() == Result(
        Outcome.FAILED, error="cannot reach the cloud at example: connection refused", attempts=4
    )
    assert r.listener.failed == [(SERIAL, unreachable)]


async def test_the_latest_command_waiting_wins_and_the_replaced_ones_are_told() -> None:
    async with rig(spacing=3.0) as r:
        await r.send(60)  # written at once
        await r.send(70)  # waits for the spacing
        await r.send(80)  # replaces 70
        await r.clock.advance(3.0)
    assert r.listener.outcomes() == [("accepted", "60"), ("superseded", "70"), ("accepted", "80")]
    assert r.listener.results[1][1].error == "superseded by a later command (80)"
    assert r.transport.sent == ["60", "80"]


async def test_writes_to_one_inverter_are_spaced_apart() -> None:
    async with rig(spacing=3.0) as r:
        await r.send(60)
        await r.send(100, BATTERY_DISCHARGE_CURRENT)
        assert r.transport.sent == ["60"], "the second write waits for the spacing"
        await r.clock.advance(2.9)
        assert r.transport.sent == ["60"]
        await r.clock.advance(0.1)
        assert r.transport.sent == ["60", "100"]
    assert r.clock.slept[0] == pytest.approx(3.0)


async def test_waiting_commands_are_refused_at_shutdown() -> None:
    async with rig(spacing=3.0) as r:
        await r.send(60)
        await r.send(70)
        r.queue.refuse_waiting("the bridge is shutting down; nothing was written")
        await r.clock.advance(3.0)
    assert r.listener.outcomes() == [("accepted", "60"), ("refused", "70")]
    assert r.transport.sent == ["60"]


def unknown() -> OutcomeUnknownError:
    error = OutcomeUnknownError("no answer from the cloud within 30 s", serial=SERIAL)
    error.attempts = 1
    return error


async def test_an_unknown_outcome_is_said_never_resent_and_rechecked_later() -> None:
    async with rig() as r:
        r.transport.on_write = [unknown()]
        await r.send(200)
        assert r.last() == Result(
            Outcome.UNKNOWN,
            value=200,
            error="no answer from the cloud within 30 s; the write may or may not have been applied, and was "
            "not sent again. The setting will be read again in 15 s",
            applied="unknown",
            attempts=1,
        )
        assert r.transport.sent == ["200"]
        await r.clock.advance(14.9)
        assert len(r.listener.results) == 1, "not rechecked before the cloud has had its time"
        await r.clock.advance(0.1)
    assert r.last() == Result(
        Outcome.RECHECKED, value=200, error="the inverter holds 25, not 200", applied=False, found=25
    )
    assert r.transport.sent == ["200"]


async def test_an_unknown_write_found_applied_is_confirmed_by_its_recheck() -> None:
    async with rig() as r:
        r.transport.on_write = [unknown()]
        await r.send(200)
        r.transport.held[CHARGE] = "200"  # it landed after all
        await r.clock.advance(15)
    assert r.last() == Result(Outcome.RECHECKED, value=200, applied=True, confirmed=True, found=200)


async def test_a_late_landing_over_a_newer_confirmed_command_is_undone_once() -> None:
    async with rig() as r:
        r.transport.on_write = [unknown()]
        await r.send(200)
        await r.send(20)
        r.transport.held[CHARGE] = "200"  # the first write lands late, over the confirmed 20
        await r.clock.advance(15)
    assert r.listener.outcomes() == [("unknown", "200"), ("accepted", "20"), ("reasserted", "20")]
    assert r.last() == Result(
        Outcome.REASSERTED, value=20, applied=True, confirmed=True, attempts=1, found=200, via="cloud"
    )
    assert r.transport.sent == ["200", "20", "20"]
    assert r.transport.held[CHARGE] == "20"


async def test_a_value_nobody_sent_through_the_bridge_is_never_overwritten() -> None:
    async with rig() as r:
        r.transport.on_write = [unknown()]
        await r.send(200)
        await r.send(20)
        r.transport.held[CHARGE] = "90"  # changed in the vendor's app
        await r.clock.advance(15)
    assert r.last() == Result(
        Outcome.RECHECKED,
        value=200,
        error="the inverter holds 90, not 200 (a later command was written since)",
        applied="unknown",
        found=90,
    )
    assert r.transport.sent == ["200", "20"]


async def test_no_undoing_while_a_newer_command_is_on_its_way() -> None:
    """At the recheck a newer command is waiting: it will settle the setting, so nothing is written again."""
    async with rig(spacing=20.0, recheck_after=30.0) as r:
        r.transport.on_write = [unknown()]
        await r.send(200)  # t=0
        await r.clock.advance(20)
        await r.send(20)  # t=20, at once
        await r.send(30)  # waits until t=40
        r.transport.held[CHARGE] = "200"
        await r.clock.advance(10)  # t=30: the recheck of 200, while 30 waits
        assert r.listener.outcomes()[-1] == ("rechecked", "200")
        await r.clock.advance(10)
    assert r.transport.sent == ["200", "20", "30"]


async def test_a_failed_recheck_says_the_outcome_is_still_unknown() -> None:
    async with rig() as r:
        r.transport.on_write = [unknown()]
        await r.send(200)
        r.transport.failing_reads = 1
        await r.clock.advance(15)
    assert r.last() == Result(
        Outcome.RECHECKED,
        value=200,
        error="reading Battery Charge Current again failed, so whether 200 was applied is still unknown",
        applied="unknown",
    )


async def test_a_write_cut_short_by_shutdown_says_it_may_have_been_applied() -> None:
    transport = FakeTransport(held={CHARGE: "25"})
    listener = RecordingListener()
    never = asyncio.Event()

    async def hang(serial: str, setting: Setting, value: str) -> Delivery:
        await never.wait()
        return Delivery(1, "cloud")

    transport.write = hang  # type: ignore[method-assign]
    queue = WriteQueue(transport, FakeClock(), listener, spacing=0, recheck_after=15)

    async def stop_mid_write() -> None:
        async with asyncio.TaskGroup() as tasks:
            queue.start(tasks)
            queue.submit(*command(80))
            await settle()
            raise RuntimeError("the bridge stops")

    with pytest.raises(ExceptionGroup):
        await stop_mid_write()
    assert listener.results[0][1] == Result(
        Outcome.UNKNOWN,
        value=80,
        error="the bridge stopped before the transport answered; it may have been applied",
        applied="unknown",
        attempts=1,
    )


async def landed_late_after_the_recheck(r: Rig) -> None:
    """200 of unknown fate, then 20 confirmed; the recheck finds 20; then 200 lands after all."""
    r.transport.on_write = [unknown()]
    await r.send(200)
    await r.send(20)
    await r.clock.advance(15)
    assert r.listener.outcomes()[-1] == ("rechecked", "200")
    await r.clock.advance(15)
    r.transport.held[CHARGE] = "200"


async def test_a_late_landing_found_by_a_later_poll_is_undone_once_and_said() -> None:
    async with rig() as r:
        await landed_late_after_the_recheck(r)
        r.queue.observed(SERIAL, BATTERY_CHARGE_CURRENT, "200")  # the next settings poll
        await settle()
        r.queue.observed(SERIAL, BATTERY_CHARGE_CURRENT, "200")  # and the one after: nothing more
        await settle()
    assert r.listener.outcomes()[-1] == ("reasserted", "20")
    assert r.last() == Result(
        Outcome.REASSERTED, value=20, applied=True, confirmed=True, attempts=1, found=200, via="cloud"
    )
    assert r.transport.sent == ["200", "20", "20"]
    assert r.transport.held[CHARGE] == "20"


async def test_a_reassert_the_inverter_does_not_take_says_so_and_is_not_repeated() -> None:
    async with rig() as r:
        await landed_late_after_the_recheck(r)
        r.transport.on_write = ["ignore"]
        r.queue.observed(SERIAL, BATTERY_CHARGE_CURRENT, "200")
        await settle()
        r.queue.observed(SERIAL, BATTERY_CHARGE_CURRENT, "200")
        await settle()
    assert r.last() == Result(
        Outcome.REASSERTED,
        value=20,
        error="the inverter held 200 from an older command that landed late; 20 was written again, but the "
        "inverter did not take it: it holds 200",
        applied=False,
        attempts=1,
        found=200,
        via="cloud",
    )
    assert r.transport.sent == ["200", "20", "20"], "once"


async def test_a_value_found_long_after_an_unknown_write_is_left_alone() -> None:
    async with rig() as r:
        await landed_late_after_the_recheck(r)
        await r.clock.advance(600)
        r.queue.observed(SERIAL, BATTERY_CHARGE_CURRENT, "200")  # someone set 200 in the app, much later
        await settle()
    assert r.transport.sent == ["200", "20"]


async def test_a_command_arriving_during_a_reassert_is_written_after_it() -> None:
    async with rig() as r:
        await landed_late_after_the_recheck(r)
        r.queue.observed(SERIAL, BATTERY_CHARGE_CURRENT, "200")
        r.queue.submit(*command(30))  # while the reassert is under way
        await settle()
    assert r.transport.sent == ["200", "20", "20", "30"]
    assert r.listener.outcomes()[-1] == ("accepted", "30")


async def test_an_unconfirmed_local_write_names_the_dongle_not_the_cloud() -> None:
    async with rig() as r:
        r.transport.via = "dongle"
        r.transport.on_write = ["ignore"]
        await r.send(80)
    assert r.last().error == "the dongle accepted 80, but the inverter holds 25"
