"""The daemon: the cloud client (when there is an account), the coordinator with its router, the MQTT link
and the health endpoint, run together."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import structlog

from bridge import __version__
from bridge.core.config import Settings
from bridge.core.fleet import InverterSummary
from bridge.core.readings import Runtime
from bridge.mqtt.link import MqttLink
from bridge.mqtt.topics import Topics
from bridge.service.config_file import settings_warnings
from bridge.service.coordinator import Coordinator
from bridge.service.health import HealthReport, serve_health
from bridge.service.metrics import BridgeMetrics
from bridge.service.status_page import InverterStatus, SettingRow, Status
from bridge.service.systemd import Notifier
from bridge.transports.cloud import CloudClient

log = structlog.get_logger(__name__)

#: How long an in-flight write may take to finish at shutdown, and then how long MQTT gets to say goodbye.
WRITE_GRACE_SECONDS = 10.0
GOODBYE_SECONDS = 5.0
#: Slack for retries of a slow cloud, on top of the polling period, before the bridge counts as hung.
RETRY_SLACK_SECONDS = 60.0
#: A bridge cut off from its broker this long stops feeding systemd's watchdog, so that it shows as failed.
BROKER_DOWN_LIMIT_SECONDS = 300.0


async def run_bridge(
    settings: Settings,
    stop: asyncio.Event,
    *,
    on_ready: Callable[[Coordinator], Awaitable[None]] | None = None,
    notifier: Notifier | None = None,
    leave_no_trace: bool = False,
) -> None:
    """Run until `stop` is set, then stop taking commands, finish in-flight writes, say `offline` (or, with
    `leave_no_trace`, empty every retained topic it published)."""
    notifier = notifier or Notifier()
    topics = Topics(settings.mqtt.base_topic, settings.mqtt.discovery_prefix, settings.mqtt.device_prefix)
    _warn_about_risky_settings(settings)
    metrics = BridgeMetrics()
    async with AsyncExitStack() as stack:
        account = settings.cloud
        cloud = (
            None
            if account is None
            else await stack.enter_async_context(
                CloudClient(
                    account.base_url,
                    account.username,
                    account.password.get_secret_value(),
                    concurrency=account.concurrency,
                    request_timeout=account.request_timeout,
                    verify_tls=account.verify_tls,
                    observe_request=metrics.observe_request,
                )
            )
        )
        coordinator = Coordinator(cloud, topics, settings)
        stack.push_async_callback(coordinator.router.close)
        link = MqttLink(
            settings.mqtt,
            topics,
            coordinator,
            outbox_limit=settings.mqtt.outbox_limit,
            clear_retained_on_close=leave_no_trace,
        )
        coordinator.attach(link, link.room)
        coordinator.retained_among = link.retained_among
        metrics.watch(
            coordinator.command_outcomes,
            lambda: link.connections,
            coordinator.fleet.last_good_refreshes,
            lambda: link.dropped,
            lambda: coordinator.announcer.messages,
            lambda: coordinator.announcer.energy_held_back,
            lambda: coordinator.fleet.readings_dropped,
        )
        metrics.watch_local_transports(coordinator.router.local_stats)
        if settings.health.enabled:
            report = _health_reporter(settings, coordinator, link)
            status = _status_reporter(settings, coordinator, link, metrics)
            port = await stack.enter_async_context(
                serve_health(settings.health.host, settings.health.port, report, metrics, status)
            )
            log.info("health_endpoint_listening", host=settings.health.host, port=port)

        announced = asyncio.Event()

        async def announce_ready(ready: Coordinator) -> None:
            notifier.notify(f"READY=1\nSTATUS=serving {len(ready.inverters)} inverters")
            announced.set()
            if on_ready is not None:
                await on_ready(ready)

        async with asyncio.TaskGroup() as tasks:
            # Failures of the link and the coordinator (refused credentials, another bridge, an unknown
            # serial) are kept, not left to cancel the group mid-flight, so that the shutdown below runs
            # the same way whatever ended the bridge, and `offline` is said.
            link_task = tasks.create_task(_failure_of(link.run()), name="mqtt-link")
            coordinator_task = tasks.create_task(_failure_of(coordinator.run()), name="coordinator")
            ready_task = tasks.create_task(_when_ready(coordinator, link, announce_ready), name="on-ready")
            watchdog_task = tasks.create_task(
                _watchdog(notifier, coordinator, link, settings, announced), name="watchdog"
            )
            stop_task = tasks.create_task(stop.wait(), name="stop")
            await asyncio.wait({stop_task, coordinator_task, link_task}, return_when=asyncio.FIRST_COMPLETED)
            log.info("bridge_stopping")
            notifier.notify("STOPPING=1")
            await coordinator.shutdown(WRITE_GRACE_SECONDS)
            for task in (coordinator_task, ready_task, watchdog_task, stop_task):
                await _stop_task(task)
            await link.close(GOODBYE_SECONDS)
            await _stop_task(link_task)
    log.info("bridge_stopped")
    await _let_closed_clients_finish()
    for task in (link_task, coordinator_task):
        failure = None if task.cancelled() else task.result()
        if failure is not None:
            raise failure


async def _failure_of(work: Awaitable[None]) -> Exception | None:
    """Run `work`; return what it raised instead of raising it."""
    try:
        await work
    except Exception as exc:
        return exc
    return None


#: The runtime values owners look at first, as the status page shows them: label, `Runtime` field, unit.
LIVE_VALUES: Final = (
    ("SOC", "soc", "%"),
    ("PV", "pv_power", "W"),
    ("battery", "battery_power", "W"),
    ("grid import", "grid_import_power", "W"),
    ("grid export", "grid_export_power", "W"),
    ("load", "load_power", "W"),
)


def _live_values(runtime: Runtime | None) -> list[tuple[str, str]]:
    if runtime is None or not runtime.online:
        return []
    values = ((label, getattr(runtime, field), unit) for label, field, unit in LIVE_VALUES)
    return [(label, f"{value:g} {unit}") for label, value, unit in values if value is not None]


async def _let_closed_clients_finish() -> None:
    """A client stopped mid-connection (the bridge failing at start) still has socket callbacks to run and
    objects whose finalisers reach the loop: let them run while the loop is alive, so that a failed start
    ends with its one sentence, not with "Task was destroyed" or "Event loop is closed"."""
    for _ in range(3):
        await asyncio.sleep(0.05)
        gc.collect()


async def _stop_task(task: asyncio.Task[Any], attempts: int = 20) -> None:
    """Cancel `task` and wait for it to end. On Python 3.11 `asyncio.wait_for`, which aiomqtt uses, can
    swallow a cancellation that meets a completing operation; asking again ends the task all the same."""
    for _ in range(attempts):
        if task.done():
            return
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)
    log.error("task_did_not_stop", task=task.get_name())


def _warn_about_risky_settings(settings: Settings) -> None:
    for warning in settings_warnings(settings):
        log.warning("risky_setting", warning=warning)
    if settings.cloud is not None and not settings.cloud.verify_tls:
        log.warning("cloud_tls_verification_disabled", base_url=settings.cloud.base_url)


def _stall_limit(settings: Settings) -> float:
    """Seconds without a finished runtime cycle after which the bridge counts as hung."""
    cloud_timeout = 0.0 if settings.cloud is None else settings.cloud.request_timeout
    dongle_timeout = max((way.timeout_seconds for way in settings.local_transports.values()), default=0.0)
    return 2 * settings.polling.runtime_seconds + 4 * (cloud_timeout + dongle_timeout) + RETRY_SLACK_SECONDS


async def _when_ready(
    coordinator: Coordinator, link: MqttLink, on_ready: Callable[[Coordinator], Awaitable[None]]
) -> None:
    """Ready means: the first refresh is done and the broker is connected and subscribed."""
    await coordinator.ready.wait()
    await link.connected.wait()
    await on_ready(coordinator)
    await link.drained()
    give_back_free_memory()


def give_back_free_memory() -> None:
    """Hand the heap that the first refresh and its announcement burst grew back to the system. Python
    frees what that burst held, but glibc keeps the pages for later and the process stays at its peak;
    `malloc_trim` returns them. Elsewhere than glibc (musl, macOS) there is no such call: nothing done."""
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return
    gc.collect()
    trim(0)


async def _watchdog(
    notifier: Notifier, coordinator: Coordinator, link: MqttLink, settings: Settings, announced: asyncio.Event
) -> None:
    """Tell systemd we are alive while the refresh loop keeps turning and the broker is (or was recently)
    connected; a hung bridge, or one cut off from its broker, stops saying so."""
    interval = notifier.watchdog_interval
    if interval is None:
        return
    stall_limit = _stall_limit(settings)
    await announced.wait()  # until READY=1, systemd's start timeout is the guard
    while True:
        withheld = watchdog_withheld_because(
            time.monotonic(), coordinator.poller.last_cycle, stall_limit, link.disconnected_at
        )
        if withheld is None:
            notifier.notify("WATCHDOG=1")
        else:
            log.error(
                withheld,
                stall_limit_seconds=round(stall_limit),
                broker_limit_seconds=BROKER_DOWN_LIMIT_SECONDS,
            )
        await asyncio.sleep(interval)


def watchdog_withheld_because(
    now: float, last_cycle: float, stall_limit: float, disconnected_at: float | None
) -> str | None:
    """Why systemd's watchdog must not be fed now (an event name for the log), or `None` to feed it: the
    refresh loop has stalled, or the broker has been unreachable for `BROKER_DOWN_LIMIT_SECONDS`."""
    if now - last_cycle >= stall_limit:
        return "refresh_loop_stalled_watchdog_withheld"
    if disconnected_at is not None and now - disconnected_at > BROKER_DOWN_LIMIT_SECONDS:
        return "broker_unreachable_watchdog_withheld"
    return None


def _health_reporter(
    settings: Settings, coordinator: Coordinator, link: MqttLink
) -> Callable[[], HealthReport]:
    stale_after = settings.health.stale_after_seconds or (
        3 * settings.polling.runtime_seconds + RETRY_SLACK_SECONDS
    )

    def report() -> HealthReport:
        reasons: list[str] = []
        connected = link.connected.is_set()
        if not connected:
            reasons.append("not connected to the MQTT broker")
        ready = coordinator.ready.is_set()
        if not ready:
            reasons.append("the first refresh has not finished")
        newest = max(coordinator.fleet.last_good_refreshes().values(), default=None)
        age = None if newest is None else round(time.monotonic() - newest, 3)
        if ready and (age is None or age > stale_after):
            reasons.append(f"no inverter read successfully in the last {stale_after:.0f} s")
        return HealthReport(not reasons, connected, ready, age, reasons)

    return report


def _status_reporter(
    settings: Settings, coordinator: Coordinator, link: MqttLink, metrics: BridgeMetrics
) -> Callable[[], Status]:
    def status() -> Status:
        now = time.monotonic()
        return Status(
            version=__version__,
            broker=f"{settings.mqtt.host}:{settings.mqtt.port}",
            broker_connected=link.connected.is_set(),
            cloud_requests_per_minute=metrics.requests_per_minute(),
            inverters=[_inverter_status(summary, now) for summary in coordinator.fleet.summaries()],
            commands=tuple(coordinator.recent_commands),
            broker_reason=None if link.connected.is_set() else link.last_error,
            generated=datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z"),
        )

    return status


def _inverter_status(summary: InverterSummary, now: float) -> InverterStatus:
    rows = [
        SettingRow(
            row.name,
            "" if row.state is None else f"{row.state} {row.unit}".rstrip(),
            "" if row.limit is None else f"≤ {row.limit} {row.unit}".rstrip(),
            beyond=row.beyond,
        )
        for row in summary.settings
    ]
    refreshed = summary.last_good_refresh
    return InverterStatus(
        summary.serial,
        summary.model,
        summary.online,
        None if refreshed is None else now - refreshed,
        summary.transport,
        rows,
        reason=summary.last_error,
        live=_live_values(summary.runtime),
    )


@dataclass
class RunningBridge:
    """A bridge running in this process: its coordinator, the event that stops it, and its task."""

    coordinator: Coordinator
    stop: asyncio.Event
    task: asyncio.Task[None]


@asynccontextmanager
async def running_bridge(settings: Settings, *, ready_within: float = 20.0) -> AsyncIterator[RunningBridge]:
    """The daemon in this process until the block ends (tests, benchmarks); entered once it is ready."""
    stop = asyncio.Event()
    ready: asyncio.Future[Coordinator] = asyncio.get_running_loop().create_future()

    async def on_ready(coordinator: Coordinator) -> None:
        ready.set_result(coordinator)

    task = asyncio.create_task(run_bridge(settings, stop, on_ready=on_ready))
    try:
        waiting: set[asyncio.Future[Any]] = {task, ready}
        async with asyncio.timeout(ready_within):
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()  # raises what stopped it
            raise RuntimeError("the bridge stopped before it was ready")
        yield RunningBridge(coordinator=ready.result(), stop=stop, task=task)
    finally:
        stop.set()
        async with asyncio.timeout(30):
            await task


def stop_on_signals(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT ask the daemon to stop cleanly."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
