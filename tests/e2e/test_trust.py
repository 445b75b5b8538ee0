"""Trust: no message, slow cloud, typo or second bridge can undo, skip or silently drop a battery command.

End to end against a real mosquitto and the simulator over HTTP; each test names the way a battery could get
a current nobody asked for, or a user be told something untrue, and shows that it no longer happens.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bridge.core.config import MqttSettings
from bridge.core.errors import AnotherBridgeError
from bridge.mqtt.link import MqttLink
from bridge.mqtt.topics import MAX_TOPIC_BYTES, Topics
from bridge.service.daemon import RunningBridge, run_bridge, running_bridge
from bridge.simulator import RunningSimulator, SimulatorState, run_simulator
from bridge.simulator.state import SlowWrite
from tests.harness import (
    Broker,
    Observer,
    bridge_settings,
    free_port,
    observing,
    start_bridge_process,
    unique_topics,
)
from tests.reliability import record

pytestmark = pytest.mark.e2e

FIRST = "4512345600"
SECOND = "4512345601"
CHARGE = "battery/charge_current"
HOLD_CHARGE = "HOLD_LEAD_ACID_CHARGE_RATE"
WRITE = "/WManage/web/maintain/remoteSet/write"


@dataclass
class Rig:
    simulator: RunningSimulator
    topics: Topics
    observer: Observer
    bridge: RunningBridge

    @property
    def faults(self) -> Any:
        return self.simulator.state.faults

    async def command(self, payload: str, serial: str = FIRST) -> dict[str, Any]:
        return await command(self.observer, self.topics, payload, serial)

    def results(self, serial: str = FIRST) -> list[dict[str, Any]]:
        return [seen.json() for seen in self.observer.on(self.topics.result(serial, CHARGE))]

    async def next_result(self, serial: str = FIRST, *, already: int, within: float = 20) -> dict[str, Any]:
        return await next_result(self.observer, self.topics, serial, already=already, within=within)

    def held(self) -> object:
        return self.simulator.state.value_of(FIRST, HOLD_CHARGE)


async def command(observer: Observer, topics: Topics, payload: str, serial: str = FIRST) -> dict[str, Any]:
    """Publish one /set of the charge current and return the next result on its topic."""
    already = len(observer.on(topics.result(serial, CHARGE)))
    await observer.publish(topics.command(serial, CHARGE), payload)
    return await next_result(observer, topics, serial, already=already)


async def next_result(
    observer: Observer, topics: Topics, serial: str, *, already: int, within: float = 20
) -> dict[str, Any]:
    seen = await observer.wait_count(topics.result(serial, CHARGE), already + 1, within=within)
    answer: dict[str, Any] = seen[already].json()
    return answer


@asynccontextmanager
async def rigged(
    broker: Broker, state: SimulatorState | None = None, *, topics: Topics | None = None, **options: Any
) -> AsyncIterator[Rig]:
    """The simulator, an observer on every topic of the run, and the bridge, with `options` for its settings."""
    async with run_simulator(state or SimulatorState(inverter_count=2)) as simulator:
        topics = topics or unique_topics()
        async with observing(broker.port, f"{topics.base}/#", f"{topics.discovery_prefix}/#") as observer:
            settings = bridge_settings(simulator, broker.port, topics, **options)
            async with running_bridge(settings) as bridge:
                yield Rig(simulator, topics, observer, bridge)


# -- 1. one message never stops the bridge ---------------------------------------------------------------


async def test_a_set_whose_result_topic_cannot_exist_is_not_carried_out_and_kills_nothing(
    broker: Broker,
) -> None:
    """A /set whose /result topic would exceed MQTT's 65,535 bytes is logged and not carried out; retained,
    it does not stop a restart either. The bridge stays online and serves the next command."""
    topics = unique_topics()
    prefix = topics.command(FIRST, CHARGE).removesuffix("/set") + "/"
    monster = prefix + "x" * (MAX_TOPIC_BYTES - len(prefix) - len("/set") - 1) + "/set"
    assert len(monster.encode()) == MAX_TOPIC_BYTES - 1
    async with rigged(broker, topics=topics) as rig:
        await rig.observer.publish(monster, "200")
        assert (await rig.command("60"))["ok"] is True
        outcomes = rig.bridge.coordinator.command_outcomes
        assert dict(outcomes) == {"accepted": 1}, "the monster was not even refused: nobody could hear it"
        await rig.observer.publish(monster, "200", retain=True)  # replayed at every start from now on
        assert (await rig.command("61"))["ok"] is True
    try:
        async with rigged(broker, topics=topics) as again:
            assert (await again.command("62"))["ok"] is True
            statuses = [seen.payload for seen in again.observer.on(topics.bridge_status)]
            assert statuses == ["offline", "online"], "the first run's retained goodbye, then the restart"
            assert [write[2] for write in again.simulator.state.writes] == ["62"]
    finally:
        async with observing(broker.port) as cleaner:
            await cleaner.publish(monster, b"", retain=True)
    record(
        "bad input",
        "a /set whose /result topic would exceed 65,535 bytes",
        2,
        "sent live, then retained and replayed at a restart: neither carried out nor even refused (no "
        "result could exist), the bridge stayed online, and the next command was confirmed each time",
    )


async def test_devices_whose_serial_cannot_be_a_topic_level_are_skipped_and_the_others_served(
    broker: Broker,
) -> None:
    """Serials holding `+`, `#`, `/`, or not ten letters and digits, are skipped with an error naming them;
    every other inverter is served."""
    state = SimulatorState(inverter_count=2)
    bad = ["45123+5600", "4512#45600", "45/2345600", "451234560", "45123456000", ""]
    for serial in bad:
        state.inverters[serial] = dataclasses.replace(state.inverters[FIRST], serial=serial)
    async with rigged(broker, state) as rig:
        assert set(rig.bridge.coordinator.inverters) == {FIRST, SECOND}
        await rig.observer.wait_for_topic(rig.topics.state(SECOND, CHARGE))
        assert (await rig.command("70"))["ok"] is True
        # `<base>/<serial>/...` and `<prefix>/<component>/eg4_<serial>/...`: only the two good serials.
        named = {
            seen.topic.split("/")[1] if seen.topic.startswith(rig.topics.base) else seen.topic.split("/")[2]
            for seen in rig.observer.messages
        }
        assert named == {"bridge", FIRST, SECOND, f"eg4_{FIRST}", f"eg4_{SECOND}"}
    record(
        "bad input",
        "devices whose serial holds +, # or / or is not 10 letters and digits",
        len(bad),
        "each skipped with an error naming it; no topic was published for any of them; the two good "
        "inverters were served and a command confirmed",
    )


class _BrokenHandler:
    """A handler with a bug: the first message it is given raises."""

    async def on_connect(self) -> None:
        return None

    async def on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        raise RuntimeError("a bug in message handling")


async def test_a_link_that_dies_unexpectedly_leaves_offline_not_online(broker: Broker) -> None:
    """An unexpected exception ends the link with a clean disconnect, which sends no will: it must say
    `offline` itself on the way out."""
    topics = unique_topics()
    link = MqttLink(MqttSettings(port=broker.port, base_topic=topics.base), topics, _BrokenHandler())
    async with observing(broker.port, topics.bridge_status) as observer:
        running = asyncio.create_task(link.run())
        await observer.wait_for_topic(topics.bridge_status, "online")
        await observer.publish(topics.command(FIRST, CHARGE), "80")
        with pytest.raises(ExceptionGroup) as raised:
            await asyncio.wait_for(running, 10)
        assert raised.group_contains(RuntimeError, match="a bug in message handling")
    async with observing(broker.port, topics.bridge_status) as late:
        retained = await late.wait_for_topic(topics.bridge_status)
        assert (retained.payload, retained.retain) == ("offline", True)
        await late.publish(topics.bridge_status, b"", retain=True)
    record(
        "fault",
        "the broker link ending on an unexpected error",
        1,
        "the error ended the link, and the retained status said offline: nothing was left saying online",
    )


# -- 2. a late write never undoes a newer command; a result never says "nothing written" when it may be --


async def test_a_late_write_of_an_older_command_never_undoes_a_newer_confirmed_one(broker: Broker) -> None:
    """200 times out at the client and lands 1.2 s later, after 20 was confirmed: the result of 200 says its
    fate is unknown (never "nothing written"), it is never sent again, and the recheck finds 200 over the
    newer 20, writes 20 again once and says so on /result."""
    async with rigged(
        broker,
        cloud={"request_timeout": 0.5},
        control={"recheck_after_unknown_seconds": 2.0},
    ) as rig:
        rig.faults.slow_writes.append(SlowWrite(answer_after=1.0, apply_after=1.2))
        unknown = await rig.command("200")
        assert (unknown["outcome"], unknown["ok"], unknown["applied"]) == ("unknown", False, "unknown")
        assert (unknown["value"], unknown["attempts"], unknown["confirmed"]) == (200, 1, False)
        assert "may or may not have been applied, and was not sent again" in unknown["error"]
        assert "read again in 2 s" in unknown["error"]
        newer = await rig.command("20")
        assert (newer["outcome"], newer["ok"], newer["value"]) == ("accepted", True, 20)
        # Whichever read finds 200 first (the refresh after the write, or the recheck) undoes it, once.
        seen = await rig.observer.wait_for(
            lambda message: (
                message.topic == rig.topics.result(FIRST, CHARGE)
                and message.json()["outcome"] == "reasserted"
            ),
            within=10,
        )
        reasserted = seen.json()
        assert (reasserted["value"], reasserted["found"], reasserted["requested"]) == (20, 200, "20")
        assert (reasserted["ok"], reasserted["confirmed"], reasserted["applied"]) == (True, True, True)
        assert rig.held() == "20"
        await rig.observer.wait_for_topic(rig.topics.state(FIRST, CHARGE), "20")
        await asyncio.sleep(2.5)  # past the recheck
        outcomes = [result["outcome"] for result in rig.results()]
        assert outcomes[:2] == ["unknown", "accepted"]
        assert sorted(outcomes[2:]) in (["reasserted"], ["reasserted", "rechecked"])
    writes = [write[2] for write in rig.simulator.state.writes]
    assert writes == ["20", "200", "20"]
    assert rig.simulator.state.requests[WRITE] == 3, "200 was sent once, 20 twice (once to undo the late 200)"
    record(
        "fault",
        "a write that times out and lands after a newer command",
        1,
        "the timed-out 200 answered applied: unknown and never sent again; 20 confirmed; 200 landed 1.2 s "
        "later; the recheck found 200, wrote 20 once more and said so (outcome reasserted, confirmed); "
        f"{len(writes)} writes in all, the inverter left holding 20",
    )


async def test_a_value_changed_outside_the_bridge_is_never_overwritten(broker: Broker) -> None:
    """After an unknown outcome, the recheck finds a value nobody sent through the bridge (changed in the
    app): it reports it and writes nothing."""
    async with rigged(
        broker, cloud={"request_timeout": 0.5}, control={"recheck_after_unknown_seconds": 1.5}
    ) as rig:
        rig.faults.slow_writes.append(SlowWrite(answer_after=1.0, apply_after=0.0))
        assert (await rig.command("200"))["applied"] == "unknown"
        assert (await rig.command("20"))["ok"] is True
        rig.simulator.state.write(FIRST, HOLD_CHARGE, "90")  # the owner, in the vendor's app
        rechecked = await rig.next_result(already=2, within=10)
        assert rechecked["outcome"] == "rechecked"
        assert (rechecked["value"], rechecked["found"], rechecked["applied"]) == (200, 90, "unknown")
        assert rechecked["error"] == "the inverter holds 90, not 200 (a later command was written since)"
        await rig.observer.wait_for_topic(rig.topics.state(FIRST, CHARGE), "90")
        await asyncio.sleep(0.5)
    assert rig.held() == "90"
    assert rig.simulator.state.requests[WRITE] == 2


async def test_an_unknown_write_found_applied_is_confirmed_by_its_recheck(broker: Broker) -> None:
    async with rigged(
        broker, cloud={"request_timeout": 0.5}, control={"recheck_after_unknown_seconds": 1.0}
    ) as rig:
        rig.faults.slow_writes.append(SlowWrite(answer_after=1.0, apply_after=0.7))
        assert (await rig.command("150"))["outcome"] == "unknown"
        rechecked = await rig.next_result(already=1, within=10)
    assert (rechecked["outcome"], rechecked["ok"], rechecked["confirmed"]) == ("rechecked", True, True)
    assert (rechecked["applied"], rechecked["found"], rechecked["error"]) == (True, 150, None)


async def test_only_the_clouds_known_transient_codes_are_retried(broker: Broker) -> None:
    """`PARAMETER_TIMEOUT_VALUE_INVALID` holds "TIMEOUT" but refuses the value: sent once. `DEVICE_BUSY`
    is transient: sent again."""
    async with rigged(broker) as rig:
        rig.faults.write_refusals.append("PARAMETER_TIMEOUT_VALUE_INVALID")
        refused = await rig.command("81")
        assert (refused["outcome"], refused["error"], refused["attempts"]) == (
            "failed",
            "PARAMETER_TIMEOUT_VALUE_INVALID",
            1,
        )
        assert rig.simulator.state.requests[WRITE] == 1
        rig.faults.write_refusals.append("DEVICE_BUSY")
        busy = await rig.command("82")
        assert (busy["outcome"], busy["attempts"]) == ("accepted", 2)
        assert rig.simulator.state.requests[WRITE] == 3
    record(
        "bad input",
        "cloud refusals that hold TIMEOUT or BUSY",
        2,
        "PARAMETER_TIMEOUT_VALUE_INVALID sent once and answered failed with the cloud's words; DEVICE_BUSY, "
        "a known transient code, sent again and confirmed (attempts: 2)",
    )


async def test_attempts_counts_a_replay_after_a_login_page(broker: Broker) -> None:
    """A write that is applied and then answered with the login page is sent again after a new login:
    attempts says 2, what the cloud really received."""
    async with rigged(broker) as rig:
        rig.faults.login_page_after_write = 1
        result = await rig.command("83")
    assert (result["ok"], result["attempts"]) == (True, 2)
    assert rig.simulator.state.writes == [(FIRST, HOLD_CHARGE, "83")] * 2


async def test_a_long_cloud_error_is_cut_short(broker: Broker) -> None:
    page = "<html><body>" + "An error page of a proxy. " * 200 + "</body></html>"
    async with rigged(broker) as rig:
        rig.faults.write_refusals.append(page)
        result = await rig.command("84")
    assert result["outcome"] == "failed"
    assert result["error"].startswith("<html><body>An error page")
    assert len(result["error"]) <= 301
    assert len(page) > 5000


# -- 3. a limit is never silently ignored ----------------------------------------------------------------


async def run_config(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    config = tmp_path / "config.yaml"
    config.write_text(text)
    config.chmod(0o600)
    bridge = await start_bridge_process(config, env=env)
    _stdout, stderr = await asyncio.wait_for(bridge.communicate(), timeout=60)
    assert bridge.returncode is not None
    return bridge.returncode, stderr.decode()


async def test_run_refuses_limits_for_a_serial_the_account_does_not_have(
    broker: Broker, tmp_path: Path
) -> None:
    """A typo in a serial would leave the real inverter without its limit: `run` exits 2 naming both."""
    async with run_simulator(SimulatorState(inverter_count=2)) as simulator:
        status, stderr = await run_config(
            tmp_path,
            f"cloud: {{base_url: '{simulator.base_url}', username: demo, password: demo}}\n"
            f"mqtt: {{port: {broker.port}, base_topic: {unique_topics().base}}}\n"
            "inverters:\n  '4512345699': {max_charge_current: 50}\n",
        )
        assert simulator.state.requests[WRITE] == 0
    assert status == 2, stderr
    assert (
        "eg4-bridge: inverters: 4512345699 is not on this cloud account, so its limits would not apply; "
        "the account has 4512345600, 4512345601\n"
    ) in stderr
    record(
        "bad input",
        "limits for a serial the account does not have",
        1,
        "run exited 2 naming the serial and the account's serials; no write request reached the cloud",
    )


async def test_a_default_limit_for_every_inverter_is_applied(broker: Broker) -> None:
    async with rigged(
        broker, control={"max_charge_current": 100}, inverters={SECOND: {"max_charge_current": 120}}
    ) as rig:
        refused = await rig.command("101")
        assert refused["error"] == (
            "Battery Charge Current must be between 0 and 100 A (the limit set in the bridge's config), got 101"
        )
        assert (await rig.command("121", serial=SECOND))["error"].startswith(
            "Battery Charge Current must be between 0 and 120 A"
        )
        assert (await rig.command("100"))["ok"] is True
    assert rig.simulator.state.writes == [(FIRST, HOLD_CHARGE, "100")]


# -- 4. two bridges, or a demo, never disturb a running bridge -------------------------------------------


async def test_a_second_bridge_on_the_same_base_topic_refuses_to_start_and_disturbs_nothing(
    broker: Broker,
) -> None:
    async with rigged(broker) as rig:
        await rig.observer.wait_for_topic(rig.topics.availability(FIRST), "online")
        second = bridge_settings(rig.simulator, broker.port, rig.topics)
        with pytest.raises(
            AnotherBridgeError, match=f"another bridge is running on the base topic '{rig.topics.base}'"
        ):
            await asyncio.wait_for(run_bridge(second, asyncio.Event()), 20)
        result = await rig.command("85")
        assert (result["ok"], rig.simulator.state.requests[WRITE]) == (True, 1), "written once, not twice"
        await asyncio.sleep(0.5)
        for topic in (
            rig.topics.bridge_status,
            rig.topics.availability(FIRST),
            rig.topics.availability(SECOND),
        ):
            assert [seen.payload for seen in rig.observer.on(topic)] == ["online"], topic
    record(
        "fault",
        "a second bridge started on the same base topic",
        1,
        "it found the first alive, refused to start naming the base topic, and published nothing: the first "
        "stayed online and wrote each command once",
    )


async def test_two_bridges_with_one_client_id_do_not_knock_each_other_off_for_ever(broker: Broker) -> None:
    """The second takes the client id over; the first, told by the broker that its session was taken over,
    leaves with a sentence naming the client id, and says nothing more: the status stays online."""
    topics = unique_topics()
    async with run_simulator(SimulatorState(inverter_count=1)) as simulator:
        async with observing(broker.port, f"{topics.base}/#") as observer:
            settings = bridge_settings(simulator, broker.port, topics)
            fixed = settings.model_copy(
                update={"mqtt": settings.mqtt.model_copy(update={"client_id": f"eg4-{topics.base}"})}
            )
            first = asyncio.create_task(run_bridge(fixed, asyncio.Event()))
            await observer.wait_for_topic(topics.availability(FIRST), "online")
            second_stop = asyncio.Event()
            second = asyncio.create_task(run_bridge(fixed, second_stop))
            with pytest.raises(AnotherBridgeError) as left:
                await asyncio.wait_for(first, 20)
            assert f"with this bridge's client id 'eg4-{topics.base}'" in str(left.value)
            assert f"another bridge took the base topic '{topics.base}'" in str(left.value)
            await asyncio.sleep(3)
            assert not second.done(), "the second goes on"
            statuses = [seen.payload for seen in observer.on(topics.bridge_status)]
            assert statuses[-1] == "online"
            assert statuses.count("offline") <= 2, statuses  # each knocked-off connection's will, once
            second_stop.set()
            await asyncio.wait_for(second, 20)


async def test_a_stale_online_status_with_no_bridge_behind_it_does_not_block_a_start(broker: Broker) -> None:
    topics = unique_topics()
    async with observing(broker.port) as stale:
        await stale.publish(topics.bridge_status, "online", retain=True)
    async with rigged(broker, topics=topics) as rig:
        assert (await rig.command("86"))["ok"] is True


async def test_a_stale_retained_presence_answer_does_not_block_a_start(broker: Broker) -> None:
    """A retained `online` and a retained presence answer, left by anyone: only a live answer means a
    bridge is alive, so every start does not refuse."""
    topics = unique_topics()
    async with observing(broker.port) as stale:
        await stale.publish(topics.bridge_status, "online", retain=True)
        await stale.publish(topics.presence_answer, "a-bridge-long-gone", retain=True)
    try:
        async with rigged(broker, topics=topics) as rig:
            assert (await rig.command("87"))["ok"] is True
    finally:
        async with observing(broker.port) as cleaner:
            await cleaner.publish(topics.presence_answer, "", retain=True)


# -- 6. failures that must be visible --------------------------------------------------------------------


async def test_a_login_refused_for_another_reason_ends_run_with_the_clouds_words(tmp_path: Path) -> None:
    """A locked account is not retried forever at start: exit 1, saying what the cloud said."""
    state = SimulatorState(inverter_count=1)
    state.faults.login_refusal = "ACCOUNT_LOCKED"
    async with run_simulator(state) as simulator:
        status, stderr = await run_config(
            tmp_path,
            f"cloud: {{base_url: '{simulator.base_url}', username: demo, password: demo}}\n"
            f"mqtt: {{port: {free_port()}}}\n",
        )
    assert status == 1
    assert "eg4-bridge: the cloud refused the login: ACCOUNT_LOCKED\n" in stderr
    record(
        "fault",
        "a login refused for another reason than the password",
        1,
        "run exited 1 at once with the cloud's words (ACCOUNT_LOCKED) instead of retrying forever",
    )


async def test_availability_follows_the_first_failed_and_the_first_good_request(broker: Broker) -> None:
    """With polls a minute apart, a failed write already marks the inverter offline, and the first request
    that succeeds after the cloud returns marks it online: neither waits for a poll."""
    port = free_port()
    state = SimulatorState(inverter_count=1)
    topics = unique_topics()
    availability = topics.availability(FIRST)
    async with AsyncExitStack() as outage, observing(broker.port, f"{topics.base}/#") as observer:
        simulator = await outage.enter_async_context(run_simulator(state, port=port))
        settings = bridge_settings(simulator, broker.port, topics, runtime_seconds=60)
        async with running_bridge(settings):
            await observer.wait_for_topic(availability, "online")
            await outage.aclose()  # the cloud is gone: connections are refused
            failed = await command(observer, topics, "87")
            assert failed["outcome"] == "failed"
            assert failed["error"].startswith(
                f"cannot reach the cloud at 127.0.0.1:{port}: connection refused"
            )
            assert [seen.payload for seen in observer.on(availability)] == ["online", "offline"]
            async with run_simulator(state, port=port):
                recovered = await command(observer, topics, "88")
                assert recovered["ok"] is True
                await observer.wait_count(availability, 3, within=5)
    transitions = [seen.payload for seen in observer.on(availability)]
    assert transitions == ["online", "offline", "online"]
    record(
        "fault",
        "cloud unreachable with polls a minute apart",
        len(transitions) - 1,
        "the failed write (connection refused, retried, nothing sent) marked the inverter offline at once; "
        "the first confirmed write after the cloud returned marked it online; neither waited for a poll",
    )


async def test_emptying_a_retained_set_is_not_a_command(broker: Broker) -> None:
    """`mosquitto_pub -r -n -t .../set`, as the README says to clear a retained command: no result."""
    async with rigged(broker) as rig:
        await rig.observer.publish(rig.topics.command(FIRST, CHARGE), b"", retain=True)
        await asyncio.sleep(1.0)
        assert rig.results() == []
        assert (await rig.command("89"))["ok"] is True
        assert len(rig.results()) == 1
    record(
        "bad input",
        "an emptied retained /set",
        1,
        "no result and nothing written; the next command was answered once and confirmed",
    )
