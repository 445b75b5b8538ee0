"""The wiring: the poller, the announcer, the command policy and the write queue, joined to the MQTT link.

Each part has one job and is tested on its own (tests/unit); this class only passes messages between them
and the link: commands in, results and states out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlsplit

import structlog

from bridge.core import safejson
from bridge.core.catalogue import setting_by_key
from bridge.core.clock import Clock, MonotonicClock
from bridge.core.commands import Command, Outcome, Result
from bridge.core.config import Settings
from bridge.core.devices import Device
from bridge.core.errors import CommandRefused, TransportError
from bridge.core.families import Family
from bridge.core.fleet import Fleet
from bridge.core.kinds import Setting
from bridge.core.policy import Situation, decide
from bridge.core.poller import Poller
from bridge.core.writes import WriteQueue
from bridge.mqtt.announcer import Announcer, Publisher
from bridge.mqtt.discovery import first_release_topics
from bridge.mqtt.topics import Topics, topic_is_publishable
from bridge.service.status_page import CommandStatus
from bridge.transports.cloud import CloudClient
from bridge.transports.router import Router, register_transports

log = structlog.get_logger(__name__)

SHUTTING_DOWN = "the bridge is shutting down; nothing was written"
#: A refresh request larger than this is still a request, but its JSON is not read.
MAX_REQUEST_BYTES = 4096
#: Refresh requests that may wait for the running refresh; more are answered at once with an error.
MAX_REFRESH_WAITING = 10_000


def _transaction_of(payload: bytes) -> object:
    """The `transaction` of a JSON request payload (a string or number), else `None`."""
    try:
        request = safejson.loads(payload, max_bytes=MAX_REQUEST_BYTES) if payload.strip() else {}
    except ValueError:
        return None  # answered all the same, without a transaction
    transaction = request.get("transaction") if isinstance(request, dict) else None
    return transaction if isinstance(transaction, str | int) and len(str(transaction)) <= 64 else None


class Coordinator:
    """Keeps every inverter's values published, and turns commands into validated, confirmed writes."""

    def __init__(
        self, cloud: CloudClient | None, topics: Topics, settings: Settings, *, clock: Clock | None = None
    ) -> None:
        clock = clock or MonotonicClock()
        self._clock = clock
        self._topics = topics
        self._settings = settings
        self._cloud_host = "" if settings.cloud is None else urlsplit(settings.cloud.base_url).hostname or ""
        self.fleet = Fleet(settings)
        self.announcer = Announcer(topics, settings, self.fleet)
        self.router = Router(cloud, register_transports(settings), settings, clock)
        self.poller = Poller(self.router, self.fleet, self.announcer, settings, clock)
        self.poller.settings_read = self._settings_were_read
        control = settings.control
        self._writes = WriteQueue(
            self.router,
            clock,
            self,
            spacing=control.min_write_interval_seconds,
            recheck_after=control.recheck_after_unknown_seconds,
        )
        self._stopping = False
        #: Asks the broker which topics hold a retained message (the link's `retained_among`), once wired.
        self.retained_among: Callable[[Sequence[str]], Awaitable[set[str]]] | None = None
        #: The refresh a request started, and the transactions of every request that joined it.
        self._refresh_job: asyncio.Task[None] | None = None
        self._refresh_waiting: list[object] = []
        self._last_requested_refresh = float("-inf")
        self._connections = 0
        self._tasks: asyncio.TaskGroup | None = None
        self._announcing: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        #: Commands by outcome, for metrics.
        self.command_outcomes: Counter[str] = Counter()
        #: The last 50 results, for the status page.
        self.recent_commands: deque[CommandStatus] = deque(maxlen=50)

    def attach(self, publisher: Publisher, room: Callable[[], Awaitable[None]] | None = None) -> None:
        """Publish through `publisher`; announcements wait for `room` (the link's) after each inverter."""
        self.announcer.attach(publisher, room)

    @property
    def inverters(self) -> dict[str, Device]:
        """The inverters with battery settings, by serial."""
        return self.fleet.devices

    async def run(self) -> None:
        """Discover, refresh everything once, announce it, then keep it fresh and take commands until
        cancelled."""
        poller = self.poller
        await poller.discover()  # its refusals (credentials, unknown serials) end the bridge unwrapped
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            self._writes.start(tasks)
            await poller.refresh_everything()
            if self.retained_among is not None:
                old = [topic for serial in self.fleet for topic in first_release_topics(self._topics, serial)]
                self.announcer.first_release_found = await self.retained_among(old)
            connections = self._connections
            await self._announce_again()
            self.ready.set()
            if self._connections > max(connections, 1):
                # The broker came back while the first announcement went out (at its pace: a large fleet
                # takes a while), and may have lost what it had taken: everything is said again.
                self._start_announcing_again()
            log.info("bridge_ready", inverters=len(self.fleet))
            if self._settings.control.bring_down_to_limit:
                for serial in self.fleet:
                    self._bring_down_to_limits(serial)  # what the first refresh found
            poller.start(tasks)

    async def _announce_again(self) -> None:
        await self.announcer.announce_paced()
        self.announcer.bridge_info(self._cloud_host)

    def _start_announcing_again(self) -> None:
        """Everything said again, in a task of its own (it waits for the broker to take each inverter's
        messages, and messages keep arriving meanwhile); one under way is replaced: the new one says
        everything, newer."""
        assert self._tasks is not None  # ready: the task group is up
        if self._announcing is not None:
            self._announcing.cancel()
        announcing = self._announce_again()
        try:
            self._announcing = self._tasks.create_task(announcing, name="announce-again")
        except RuntimeError:
            # The bridge is stopping and its task group takes no more work (a birth or a reconnection
            # that came as it stopped): nothing to announce to; a message must never stop the link.
            announcing.close()
            log.info("announcement_skipped_bridge_stopping")

    # -- MQTT events --------------------------------------------------------------------------------

    async def on_connect(self) -> None:
        self._connections += 1
        # The first connection delivers what is queued already; every later one follows a broker that may
        # have lost its retained messages, so everything is said again.
        if self._connections > 1 and self.ready.is_set():
            self._start_announcing_again()

    async def on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        if topic == self._topics.birth:
            if payload.strip() == b"online" and self.ready.is_set():
                log.info("home_assistant_online_discovery_resent")
                self._start_announcing_again()
            return
        if topic == self._topics.refresh_request:
            self._refresh_on_request(payload)
            return
        target = self._topics.parse_command(topic)
        if target is None:
            return
        if retained and not payload:
            return  # someone clearing a retained /set, as the README says to: not a command
        if not topic_is_publishable(self._topics.result_for(topic)):
            # A command that cannot be answered is not carried out: nobody would learn what became of it.
            log.error(
                "command_ignored_result_unpublishable", topic=topic[:120], topic_bytes=len(topic.encode())
            )
            return
        self._accept(Command(topic, target.serial, target.topic_path, payload, retained))

    def _refresh_on_request(self, payload: bytes) -> None:
        """Read every inverter now, then answer with how it went and the request's `transaction`, if any
        (as zigbee2mqtt's request topics do). Requests that arrive while a refresh runs join it: anyone on
        the broker could otherwise make the bridge hammer the cloud."""
        transaction = _transaction_of(payload)
        if not self.ready.is_set() or self._tasks is None or self._stopping:
            self._respond_refresh(
                {"status": "error", "error": "the bridge is starting or stopping"}, transaction
            )
            return
        if len(self._refresh_waiting) >= MAX_REFRESH_WAITING:
            self._respond_refresh(
                {"status": "error", "error": "too many refresh requests waiting; try again later"},
                transaction,
            )
            return
        self._refresh_waiting.append(transaction)
        if self._refresh_job is None or self._refresh_job.done():
            self._refresh_job = self._tasks.create_task(
                self._refresh_and_respond(), name="refresh-on-request"
            )

    async def _refresh_and_respond(self) -> None:
        # One refresh on request at most every `polling.refresh_request_gap_seconds`: requests meanwhile
        # wait, and are answered together by the refresh they joined.
        await self._clock.sleep(
            max(
                0.0,
                self._last_requested_refresh
                + self._settings.polling.refresh_request_gap_seconds
                - self._clock.now(),
            )
        )
        self._last_requested_refresh = self._clock.now()
        started = time.perf_counter()
        await self.poller.refresh_everything()
        await self.announcer.discovery_paced()
        answer: dict[str, object] = {
            "status": "ok",
            "inverters": len(self.fleet),
            "offline": self.fleet.offline(),
            "seconds": round(time.perf_counter() - started, 3),
        }
        waiting, self._refresh_waiting = self._refresh_waiting, []
        for transaction in waiting:
            self._respond_refresh(dict(answer), transaction)

    def _respond_refresh(self, answer: dict[str, object], transaction: object) -> None:
        if transaction is not None:
            answer["transaction"] = transaction
        self.announcer.response(self._topics.refresh_response, json.dumps(answer))

    def _accept(self, command: Command) -> None:
        try:
            write = decide(command, self._situation(command.serial), self._settings.control.thermal_guard)
        except CommandRefused as refusal:
            self.answer(command, Result(Outcome.REFUSED, error=str(refusal)))
            return
        self._writes.submit(command, write)

    def _settings_were_read(self, serial: str) -> None:
        """A poll read the inverter's settings: a late landing of an earlier unknown write over a newer
        confirmed command is undone (the write queue knows), and, if the owner wants, values above the
        limit brought down."""
        for key, value in self.fleet.held(serial).items():
            setting = setting_by_key(key)
            if setting is not None:
                self._writes.observed(serial, setting, value)
        if self._settings.control.bring_down_to_limit:
            self._bring_down_to_limits(serial)

    def _bring_down_to_limits(self, serial: str) -> None:
        """`control.bring_down_to_limit`: a setting found above the owner's limit is written down to the
        limit, as a command of the bridge's own, answered on the setting's result topic like any other.
        Once per settings read, so a refused write is tried again at the next read, not in a loop."""
        if not self.ready.is_set() or self._stopping:
            return
        limits = self._settings.limits_for(serial)
        for key, entry in self.fleet.beyond(serial).items():
            setting = setting_by_key(key)
            limit = None if setting is None else limits.maximum_for(setting)
            if setting is None or limit is None or Decimal(entry["held"]) <= limit:
                continue
            log.warning(
                "held_value_brought_down", serial=serial, setting=key, held=entry["held"], limit=str(limit)
            )
            topic = self._topics.command(serial, setting.topic_path)
            self._accept(Command(topic, serial, setting.topic_path, str(limit).encode(), retained=False))

    def _situation(self, serial: str) -> Situation:
        gridboss = self.fleet.gridbosses.get(serial)
        if gridboss is not None:
            return Situation(
                model=gridboss.model,
                family=Family.GRIDBOSS,
                ready=self.ready.is_set(),
                stopping=self._stopping,
                known_inverter=True,
                limits=self._settings.limits_for(serial),
                held=dict(gridboss.held),
                battery_temperature=None,
                offered=gridboss.offered,
                exposed=self._settings.control.exposed,
            )
        state = self.fleet.get(serial)
        device = None if state is None else state.device
        return Situation(
            model=device.model if device is not None else "",
            family=device.family if device is not None else Family.UNKNOWN,
            ready=self.ready.is_set(),
            stopping=self._stopping,
            known_inverter=state is not None,
            limits=self._settings.limits_for(serial),
            held=self.fleet.held(serial),
            battery_temperature=self.fleet.battery_temperature(serial),
            offered=None if state is None else state.offered,
            exposed=self._settings.control.exposed,
        )

    async def shutdown(self, grace_seconds: float) -> None:
        """Take no more commands, refuse those waiting, and give in-flight writes `grace_seconds`."""
        self._stopping = True
        self._writes.refuse_waiting(SHUTTING_DOWN)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace_seconds):
                await self._writes.wait_idle()

    # -- what the write queue tells us (its Listener) -------------------------------------------------

    def answer(self, command: Command, result: Result) -> None:
        self.command_outcomes[result.outcome] += 1
        self.announcer.result(command, result)
        when = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
        self.recent_commands.append(
            CommandStatus(
                when, command.serial, command.topic_path, command.requested, result.outcome, result.error
            )
        )
        if command.serial in self.fleet:
            self.announcer.last_command(command.serial, command, result)
        log.info(
            "command_answered",
            serial=command.serial,
            param=command.topic_path,
            outcome=result.outcome,
            error=result.error,
        )

    def read_holding(self, serial: str, setting: Setting, value: str) -> None:
        self.poller.read_back(serial, setting.key, value)
        self.announcer.parameter(serial, setting, value, force=True)
        if serial in self.fleet:  # an inverter's limits: a GridBOSS has none
            self.fleet.check_limits(serial)
            self.announcer.beyond_limits(serial)
        self._writes.observed(serial, setting, value)

    def wrote(self, serial: str) -> None:
        self.poller.request_refresh()

    def transport_answered(self, serial: str) -> None:
        self.poller.transport_answered(serial)

    def transport_failed(self, serial: str, error: TransportError) -> None:
        self.poller.transport_failed(serial, error)
