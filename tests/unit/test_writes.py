"""The write queue, with a fake clock, a scripted inverter and a recording listener: latest wins, spacing,
read-back, one result per command, and what happens when a write's fate is unknown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from structlog.testing import capture_logs

from bridge.core.catalogue import BATTERY_CHARGE_CURRENT, BATTERY_DISCHARGE_CURRENT
from bridge.core.commands import Applied, Command, Outcome, Result
from bridge.core.errors import (
    MalformedResponseError,
    NoTransportError,
    OutcomeUnknownError,
    RefusedError,
    TransientError,
    TransportError,
)
from bridge.core.kinds import NumberSetting
from bridge.core.policy import Write
from bridge.core.writes import WriteQueue
from tests.unit.fakes import INVERTER, FakeClock, FakeTransport, RecordingListener, settle

SERIAL = INVERTER
OTHER_SERIAL = "4512345699"
CHARGE = BATTERY_CHARGE_CURRENT.key


def command(
    value: int, parameter: NumberSetting = BATTERY_CHARGE_CURRENT, serial: str = SERIAL
) -> tuple[Command, Write]:
    topic = f"eg4/{serial}/{parameter.topic_path}/set"
    return Command(topic, serial, parameter.topic_path, str(value).encode(), False), Write(
        parameter, str(value)
    )


@dataclass
class Rig:
    queue: WriteQueue
    transport: FakeTransport
    clock: FakeClock
    listener: RecordingListener

    async def send(
        self, value: int, parameter: NumberSetting = BATTERY_CHARGE_CURRENT, serial: str = SERIAL
    ) -> None:
        self.queue.submit(*command(value, parameter, serial))
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


async def test_a_failed_read_back_is_logged_with_what_failed() -> None:
    with capture_logs() as logs:
        async with rig() as r:
            r.transport.failing_reads = 1
            await r.send(80)
    assert {
        "event": "read_back_failed",
        "log_level": "warning",
        "serial": SERIAL,
        "setting": CHARGE,
        "error": "no answer from the cloud within 30 s",
    } in logs


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


async def test_an_unconfirmed_write_through_an_unnamed_transport_says_the_transport() -> None:
    async with rig() as r:
        r.transport.via = ""
        r.transport.on_write = ["ignore"]
        await r.send(80)
    assert r.last().error == "the transport accepted 80, but the inverter holds 25"


async def test_a_refusal_passes_the_clouds_words_and_blames_no_transport() -> None:
    async with rig() as r:
        refusal = RefusedError("REMOTE_SET_ERROR", serial=SERIAL)
        r.transport.on_write = [refusal]
        await r.send(80)
    assert r.listener.outcomes() == [("failed", "80")], "one answer, and no recheck: the refusal is final"
    assert r.last() == Result(Outcome.FAILED, error="REMOTE_SET_ERROR", attempts=1)
    assert r.transport.sent == ["80"], "never sent again"
    assert r.listener.held == [], "nothing was written, so nothing is read back"
    # The transport answered: no failure to tell, so the inverter is not marked unreachable.
    assert r.listener.failed == []


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


async def test_one_write_at_a_time_per_inverter_the_next_spaced_from_the_end_of_the_previous() -> None:
    async with rig(spacing=3.0) as r:
        r.transport.answer_when = asyncio.Event()
        await r.send(60)  # sent at t=0, answered at t=2
        await r.send(100, BATTERY_DISCHARGE_CURRENT)
        await r.clock.advance(2.0)
        assert r.transport.sent == ["60"], "not while the first write is in flight"
        r.transport.answer_when.set()
        await settle()
        await r.clock.advance(2.9)
        assert r.transport.sent == ["60"], "3 s after the first write ended, not after it began"
        await r.clock.advance(0.1)
        assert r.transport.sent == ["60", "100"]
    assert r.listener.outcomes() == [("accepted", "60"), ("accepted", "100")]


async def test_a_write_long_after_the_previous_one_goes_at_once() -> None:
    async with rig(spacing=3.0) as r:
        await r.send(60)
        await r.clock.advance(10.0)
        await r.send(100, BATTERY_DISCHARGE_CURRENT)
        assert r.transport.sent == ["60", "100"], "the clock did not move: no wait"


async def test_a_write_to_another_inverter_goes_while_one_is_in_flight() -> None:
    async with rig(spacing=3.0) as r:
        r.transport.serials = (SERIAL, OTHER_SERIAL)
        r.transport.answer_when = asyncio.Event()
        await r.send(60)
        await r.send(100, BATTERY_DISCHARGE_CURRENT, serial=OTHER_SERIAL)
        assert r.transport.sent == ["60", "100"]
        r.transport.answer_when.set()
    assert r.listener.outcomes() == [("accepted", "60"), ("accepted", "100")]


async def test_writes_to_two_inverters_are_not_spaced_against_each_other() -> None:
    async with rig(spacing=3.0) as r:
        r.transport.serials = (SERIAL, OTHER_SERIAL)
        await r.send(60)
        await r.send(100, BATTERY_DISCHARGE_CURRENT, serial=OTHER_SERIAL)
        assert r.transport.sent == ["60", "100"]
    assert r.listener.outcomes() == [("accepted", "60"), ("accepted", "100")]
    assert r.listener.written == [SERIAL, OTHER_SERIAL]


async def test_waiting_commands_are_refused_at_shutdown() -> None:
    async with rig(spacing=3.0) as r:
        await r.send(60)
        await r.send(70)
        r.queue.refuse_waiting("the bridge is shutting down; nothing was written")
        await r.clock.advance(3.0)
    assert r.listener.outcomes() == [("accepted", "60"), ("refused", "70")]
    assert r.last() == Result(Outcome.REFUSED, error="the bridge is shutting down; nothing was written")
    assert r.transport.sent == ["60"]


async def test_a_command_submitted_before_the_queue_started_is_a_programming_error() -> None:
    queue = WriteQueue(FakeTransport(), FakeClock(), RecordingListener(), spacing=0, recheck_after=15)
    with pytest.raises(RuntimeError, match=r"^WriteQueue\.start\(\) must be called first$"):
        queue.submit(*command(80))


async def test_the_queue_is_idle_only_when_no_write_waits_or_is_in_flight() -> None:
    async with rig(spacing=3.0) as r:
        r.transport.answer_when = asyncio.Event()
        await r.send(60)
        await r.send(70)
        idle = asyncio.create_task(r.queue.wait_idle())
        r.transport.answer_when.set()
        await settle()
        assert not idle.done(), "70 still waits for the spacing"
        await r.clock.advance(3.0)
        assert idle.done()
        await r.clock.advance(3.0)
        await r.send(80)
        assert r.listener.outcomes()[-1] == ("accepted", "80")
        assert await idle_soon(r.queue), "idle again once 80 was written"


async def idle_soon(queue: WriteQueue) -> bool:
    """Whether the queue is idle once every task that can run has run (never waits for the clock)."""
    idle = asyncio.create_task(queue.wait_idle())
    await settle()
    idle.cancel()
    return idle.done() and not idle.cancelled()


def unknown() -> OutcomeUnknownError:
    error = OutcomeUnknownError("no answer from the cloud within 30 s", serial=SERIAL)
    error.attempts = 1
    return error


#: Each kind of write failure, as the transport raises it: what the command's result says of the write
#: (outcome, applied), and whether the listener hears that the transport failed (which marks an unreachable
#: inverter offline). A write that may have landed is never "failed": it is read again later instead.
WRITE_FAILURES = [
    pytest.param(unknown, Outcome.UNKNOWN, "unknown", False, id="sent, no answer: may have landed"),
    pytest.param(
        lambda: MalformedResponseError("the cloud answered HTML"),
        Outcome.UNKNOWN,
        "unknown",
        False,
        id="an answer not understood: may have landed",
    ),
    pytest.param(
        lambda: RefusedError("REMOTE_SET_ERROR"), Outcome.FAILED, False, False, id="refused: not applied"
    ),
    pytest.param(
        lambda: TransientError("cannot reach the cloud", maybe_delivered=False),
        Outcome.FAILED,
        False,
        True,
        id="unreachable: not sent",
    ),
    pytest.param(
        lambda: NoTransportError("no transport reaches it"), Outcome.FAILED, False, True, id="no transport"
    ),
]


@pytest.mark.parametrize(("failure", "outcome", "applied", "blames_transport"), WRITE_FAILURES)
async def test_each_kind_of_write_failure_says_whether_the_write_may_have_landed(
    failure: Callable[[], TransportError], outcome: Outcome, applied: Applied, blames_transport: bool
) -> None:
    error = failure()
    error.via, error.attempts = "dongle", 2
    async with rig() as r:
        r.transport.on_write = [error]
        await r.send(80)
        first = r.last()
    assert (first.outcome, first.applied, first.confirmed) == (outcome, applied, False)
    assert (first.via, first.attempts) == ("dongle", 2), "the way it failed, and how often it was sent"
    assert str(first.error).startswith(error.message)
    assert r.transport.sent == ["80"], "never sent again"
    assert r.listener.failed == ([(SERIAL, error)] if blames_transport else [])
    assert r.listener.written == [], "no refresh asked: the write did not go through"
    answered = [(outcome.value, "80")] + ([("rechecked", "80")] if outcome is Outcome.UNKNOWN else [])
    assert r.listener.outcomes() == answered, "only a write that may have landed is read again"


def partial_refusal() -> RefusedError:
    refused = RefusedError("REMOTE_SET_ERROR (after 2 of the window's 4 values were written)")
    refused.partial = True
    return refused


async def test_a_refusal_after_part_of_the_write_landed_is_not_called_unapplied() -> None:
    async with rig() as r:
        r.transport.on_write = [partial_refusal()]
        await r.send(80)
        first = r.last()
    assert (first.outcome, first.applied, first.confirmed) == (Outcome.FAILED, "unknown", False)
    assert r.listener.written == [SERIAL], "a refresh asked: the next read shows what part landed"


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
    with capture_logs() as logs:
        async with rig() as r:
            r.transport.on_write = [unknown()]
            await r.send(200)
            await r.send(20)
            r.transport.held[CHARGE] = "200"  # the first write lands late, over the confirmed 20
            await r.clock.advance(15)
            assert r.transport.sent == ["200", "20", "20"]
            r.queue.observed(SERIAL, BATTERY_CHARGE_CURRENT, "200")  # a poll sees 200 again: not twice
            await settle()
    assert r.listener.outcomes() == [("unknown", "200"), ("accepted", "20"), ("reasserted", "20")]
    assert r.last() == Result(
        Outcome.REASSERTED, value=20, applied=True, confirmed=True, attempts=1, found=200, via="cloud"
    )
    assert r.transport.sent == ["200", "20", "20"]
    undid = {"serial": SERIAL, "setting": CHARGE, "found": "200", "rewrite": "20"}
    assert [entry for entry in logs if entry["event"] == "late_write_undid_newer_command"] == [
        {"event": "late_write_undid_newer_command", "log_level": "warning", **undid}
    ]


async def test_an_older_value_of_this_bridge_found_at_a_recheck_is_undone_as_a_late_landing() -> None:
    """30 confirmed, then 200 of unknown fate, then 20 confirmed; the recheck of 200 finds 30, which this
    bridge wrote before 20: an older command that landed late, undone."""
    async with rig() as r:
        await r.send(30)
        r.transport.on_write = [unknown()]
        await r.send(200)
        await r.send(20)
        r.transport.held[CHARGE] = "30"
        await r.clock.advance(15)
    assert r.listener.outcomes()[-1] == ("reasserted", "20")
    assert r.last().found == 30
    assert r.transport.sent == ["30", "200", "20", "20"]


async def test_a_recheck_with_no_newer_confirmed_command_only_says_what_it_found() -> None:
    """40 then 30 confirmed, then 200 of unknown fate; the recheck finds 40. No command newer than 200 was
    confirmed, so there is nothing to put back: the recheck says what it found."""
    async with rig() as r:
        await r.send(40)
        await r.send(30)
        r.transport.on_write = [unknown()]
        await r.send(200)
        r.transport.held[CHARGE] = "40"
        await r.clock.advance(15)
    assert r.last() == Result(
        Outcome.RECHECKED, value=200, error="the inverter holds 40, not 200", applied=False, found=40
    )
    assert r.transport.sent == ["40", "30", "200"]


async def test_a_reassert_waits_for_the_spacing_after_the_inverters_last_write() -> None:
    async with rig(spacing=10.0) as r:
        r.transport.on_write = [unknown()]
        await r.send(200)  # t=0
        await r.send(20)  # waits until t=10
        await r.clock.advance(10)
        r.transport.held[CHARGE] = "200"
        await r.clock.advance(5)  # t=15: the recheck finds 200 over the confirmed 20
        assert r.transport.sent == ["200", "20"], "the rewrite waits until 10 s after the write of 20"
        await r.clock.advance(5)
        assert r.transport.sent == ["200", "20", "20"]
    assert r.listener.outcomes()[-1] == ("reasserted", "20")


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
    assert r.listener.outcomes() == [("unknown", "200"), ("rechecked", "200")]
    assert r.last() == Result(
        Outcome.RECHECKED,
        value=200,
        error="reading Battery Charge Current again failed, so whether 200 was applied is still unknown",
        applied="unknown",
    )


async def test_a_write_cut_short_by_shutdown_says_it_may_have_been_applied() -> None:
    transport = FakeTransport(held={CHARGE: "25"}, answer_when=asyncio.Event())  # never answered
    listener = RecordingListener()
    queue = WriteQueue(transport, FakeClock(), listener, spacing=0, recheck_after=15)

    async def stop_mid_write() -> None:
        async with asyncio.TaskGroup() as tasks:
            queue.start(tasks)
            queue.submit(*command(80))
            await settle()
            raise RuntimeError("the bridge stops")

    with pytest.raises(ExceptionGroup):
        await stop_mid_write()
    assert listener.outcomes() == [("unknown", "80")]
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
        assert await idle_soon(r.queue), "idle once the rewrite is done"
        await r.send(30)
    assert r.listener.outcomes()[-2:] == [("reasserted", "20"), ("accepted", "30")]
    assert r.listener.results[-2][1] == Result(
        Outcome.REASSERTED, value=20, applied=True, confirmed=True, attempts=1, found=200, via="cloud"
    )
    assert r.transport.sent == ["200", "20", "20", "30"], "a command after the rewrite goes as usual"


async def test_a_reassert_whose_read_back_fails_says_it_is_unknown_whether_it_was_taken() -> None:
    async with rig() as r:
        await landed_late_after_the_recheck(r)
        r.transport.failing_reads = 1
        r.queue.observed(SERIAL, BATTERY_CHARGE_CURRENT, "200")
        await settle()
    assert r.last() == Result(
        Outcome.REASSERTED,
        value=20,
        error="the inverter held 200 from an older command that landed late; 20 was written again, but "
        "reading it back failed, so whether it was taken is unknown",
        applied="unknown",
        attempts=1,
        found=200,
        via="cloud",
    )


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


@pytest.mark.parametrize(
    ("failure", "applied"),
    [
        pytest.param(unknown, "unknown", id="no answer: it may have been taken"),
        pytest.param(lambda: RefusedError("REMOTE_SET_ERROR"), False, id="refused"),
        pytest.param(
            lambda: TransientError("cannot reach the cloud", maybe_delivered=False), False, id="unreachable"
        ),
    ],
)
async def test_a_reassert_whose_write_fails_says_whether_it_may_have_been_taken(
    failure: Callable[[], TransportError], applied: Applied
) -> None:
    async with rig() as r:
        await landed_late_after_the_recheck(r)
        error = failure()
        error.via, error.attempts = "dongle", 2
        r.transport.on_write = [error]
        r.queue.observed(SERIAL, BATTERY_CHARGE_CURRENT, "200")
        await settle()
    assert r.listener.outcomes()[-1] == ("reasserted", "20")
    assert r.last() == Result(
        Outcome.REASSERTED,
        value=20,
        error="the inverter held 200 from an older command that landed late; 20 was written again, but the "
        f"write failed: {error.message}",
        applied=applied,
        attempts=2,
        found=200,
        via="dongle",
    )
    assert r.transport.sent == ["200", "20", "20"], "once, never again"


@pytest.mark.parametrize(
    ("seconds_after", "undone"),
    [(30.0, True), (600.0, True), (600.5, False)],
    ids=["soon after", "600 s after", "longer after: someone set it since"],
)
async def test_a_late_landing_is_undone_only_within_600_s_of_its_write(
    seconds_after: float, undone: bool
) -> None:
    async with rig() as r:
        await landed_late_after_the_recheck(r)  # 30 s after the write of 200
        await r.clock.advance(seconds_after - 30.0)
        r.queue.observed(SERIAL, BATTERY_CHARGE_CURRENT, "200")
        await settle()
    assert r.transport.sent == (["200", "20", "20"] if undone else ["200", "20"])


@pytest.mark.parametrize(
    "setting_history",
    ["never written", "written with an unknown outcome only"],
)
async def test_a_poll_of_a_setting_with_no_confirmed_command_changes_nothing(setting_history: str) -> None:
    async with rig() as r:
        if setting_history != "never written":
            r.transport.on_write = [unknown()]
            await r.send(200)
        r.queue.observed(SERIAL, BATTERY_CHARGE_CURRENT, "200")
        await settle()
    assert r.transport.sent == ([] if setting_history == "never written" else ["200"])


async def test_an_unknown_write_newer_than_the_confirmed_one_found_by_a_poll_is_left_alone() -> None:
    """20 confirmed, then 200 of unknown fate; the recheck finds 20; then 200 lands: it is the newest
    command, landing late, and stays."""
    async with rig() as r:
        await r.send(20)
        r.transport.on_write = [unknown()]
        await r.send(200)
        await r.clock.advance(15)
        assert r.listener.outcomes()[-1] == ("rechecked", "200")
        r.transport.held[CHARGE] = "200"
        r.queue.observed(SERIAL, BATTERY_CHARGE_CURRENT, "200")
        await settle()
    assert r.transport.sent == ["20", "200"]


async def test_no_undoing_by_a_poll_while_a_newer_write_is_in_flight() -> None:
    async with rig() as r:
        await landed_late_after_the_recheck(r)
        r.transport.answer_when = asyncio.Event()
        await r.send(30)  # in flight: it will settle the setting
        r.queue.observed(SERIAL, BATTERY_CHARGE_CURRENT, "200")
        r.transport.answer_when.set()
        await settle()
    assert r.transport.sent == ["200", "20", "30"]
    assert r.listener.outcomes()[-1] == ("accepted", "30")


async def test_a_command_arriving_during_a_reassert_is_written_after_it() -> None:
    async with rig() as r:
        await landed_late_after_the_recheck(r)
        r.queue.observed(SERIAL, BATTERY_CHARGE_CURRENT, "200")
        r.queue.submit(*command(30))  # while the reassert is under way
        await settle()
        assert await idle_soon(r.queue)
    assert r.transport.sent == ["200", "20", "20", "30"]
    assert r.listener.outcomes()[-1] == ("accepted", "30")


async def test_an_unconfirmed_local_write_names_the_dongle_not_the_cloud() -> None:
    async with rig() as r:
        r.transport.via = "dongle"
        r.transport.on_write = ["ignore"]
        await r.send(80)
    assert r.last().error == "the dongle accepted 80, but the inverter holds 25"
