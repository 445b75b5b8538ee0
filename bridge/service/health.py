"""The health and metrics HTTP endpoint: `/healthz` for supervisors, `/metrics` for Prometheus."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bridge.service.metrics import BridgeMetrics
from bridge.service.status_page import Status, render


@dataclass(frozen=True, slots=True)
class HealthReport:
    """What `/healthz` answers: healthy or not, and why."""

    healthy: bool
    mqtt_connected: bool
    ready: bool
    last_refresh_age_seconds: float | None
    reasons: list[str] = field(default_factory=list)


REPORT_KEY: Final[web.AppKey[Callable[[], HealthReport]]] = web.AppKey("report")
STATUS_KEY: Final[web.AppKey[Callable[[], Status]]] = web.AppKey("status")
METRICS_KEY: Final = web.AppKey("metrics", BridgeMetrics)


async def _healthz(request: web.Request) -> web.Response:
    report = request.app[REPORT_KEY]()
    body = {"status": "ok" if report.healthy else "unhealthy", **asdict(report)}
    return web.Response(
        text=json.dumps(body), status=200 if report.healthy else 503, content_type="application/json"
    )


async def _status(request: web.Request) -> web.Response:
    return web.Response(text=render(request.app[STATUS_KEY]()), content_type="text/html", charset="utf-8")


async def _metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS_KEY].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@asynccontextmanager
async def serve_health(
    host: str,
    port: int,
    report: Callable[[], HealthReport],
    metrics: BridgeMetrics,
    status: Callable[[], Status] | None = None,
) -> AsyncIterator[int]:
    """Serve `/healthz`, `/metrics` and (given `status`) the status page at `/` until the block ends;
    yields the bound port."""
    app = web.Application()
    app[REPORT_KEY] = report
    app[METRICS_KEY] = metrics
    if status is not None:
        app[STATUS_KEY] = status
        app.router.add_get("/", _status)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()
