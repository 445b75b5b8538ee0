"""The daemon: the cloud client, the coordinator and the MQTT link, nested and run together."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

import structlog

from bridge.cloud import CloudClient
from bridge.config import Settings
from bridge.coordinator import Coordinator
from bridge.mqtt.link import MqttLink
from bridge.mqtt.topics import Topics

log = structlog.get_logger(__name__)

#: How long an in-flight write may take to finish at shutdown, and then how long MQTT gets to say goodbye.
WRITE_GRACE_SECONDS = 10.0
GOODBYE_SECONDS = 5.0
CLOUD_MINIMUM_POLL_SECONDS = 30.0


async def run_bridge(
    settings: Settings,
    stop: asyncio.Event,
    *,
    on_ready: Callable[[Coordinator], Awaitable[None]] | None = None,
) -> None:
    """Run until `stop` is set, then stop taking commands, finish in-flight writes, say `offline`."""
    topics = Topics(settings.mqtt.base_topic, settings.mqtt.discovery_prefix)
    if settings.polling.runtime_seconds < CLOUD_MINIMUM_POLL_SECONDS:
        log.warning("polling_faster_than_the_cloud_allows", runtime_seconds=settings.polling.runtime_seconds)
    if not settings.cloud.verify_tls:
        log.warning("cloud_tls_verification_disabled", base_url=settings.cloud.base_url)
    async with CloudClient(
        settings.cloud.base_url,
        settings.cloud.username,
        settings.cloud.password.get_secret_value(),
        concurrency=settings.cloud.concurrency,
        request_timeout=settings.cloud.request_timeout,
        verify_tls=settings.cloud.verify_tls,
    ) as cloud:
        coordinator = Coordinator(cloud, topics, settings.polling)
        link = MqttLink(settings.mqtt, topics, coordinator)
        coordinator.attach(link)
        async with asyncio.TaskGroup() as tasks:
            link_task = tasks.create_task(link.run(), name="mqtt-link")
            coordinator_task = tasks.create_task(coordinator.run(), name="coordinator")
            if on_ready is not None:
                tasks.create_task(_when_ready(coordinator, link, on_ready), name="on-ready")
            stop_task = tasks.create_task(stop.wait(), name="stop")
            await asyncio.wait({stop_task, coordinator_task}, return_when=asyncio.FIRST_COMPLETED)
            log.info("bridge_stopping")
            await coordinator.shutdown(WRITE_GRACE_SECONDS)
            coordinator_task.cancel()
            await link.close(GOODBYE_SECONDS)
            link_task.cancel()
            stop_task.cancel()
    log.info("bridge_stopped")


async def _when_ready(
    coordinator: Coordinator, link: MqttLink, on_ready: Callable[[Coordinator], Awaitable[None]]
) -> None:
    """Ready means: the first refresh is done and the broker is connected and subscribed."""
    await coordinator.ready.wait()
    await link.connected.wait()
    await on_ready(coordinator)


def stop_on_signals(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT ask the daemon to stop cleanly."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
