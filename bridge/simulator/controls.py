"""The simulator's control endpoints under `/_sim/`: counts, devices and faults, so that tests, benchmarks
and the demo can steer it from another process."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from bridge.simulator.state import SimulatorState, SlowWrite

STATE_KEY: Final = web.AppKey("state", SimulatorState)


def add_controls(app: web.Application) -> None:
    """The `/_sim/` endpoints, on the simulated cloud's app."""
    app.router.add_get("/_sim/stats", _stats)
    app.router.add_get("/_sim/devices", _devices)
    app.router.add_post("/_sim/dongle_faults", _set_dongle_faults)
    app.router.add_post("/_sim/faults", _set_faults)
    app.router.add_post("/_sim/expire", _expire)
    app.router.add_post("/_sim/offline", _offline)
    app.router.add_post("/_sim/batteries", _set_batteries)
    app.router.add_post("/_sim/events", _events)


def state_of(request: web.Request) -> SimulatorState:
    """The simulator's state, from a request to it."""
    return request.app[STATE_KEY]


def _json(payload: dict[str, Any]) -> web.Response:
    return web.json_response(payload)


async def _stats(request: web.Request) -> web.Response:
    state = state_of(request)
    return _json(
        {
            "requests": dict(state.requests),
            "writes": [list(write) for write in state.writes],
            "peak_in_flight": state.peak_in_flight,
            "writes_by_transport": {"cloud": 0, "dongle": 0} | dict(state.writes_by_transport),
            "write_transports": list(state.write_transports),
        }
    )


async def _devices(request: web.Request) -> web.Response:
    """Each simulated device's serial, its dongle's serial and its model."""
    state = state_of(request)
    return _json(
        {
            "devices": [
                {"serial": serial, "dongle_serial": state.dongle_serial(serial), "model": inverter.model}
                for serial, inverter in state.inverters.items()
            ]
        }
    )


async def _set_dongle_faults(request: web.Request) -> web.Response:
    faults = state_of(request).dongle_faults
    try:
        body = await request.json()
        faults.silent = bool(body.get("silent", faults.silent))
        faults.latency_ms = float(body.get("latency_ms", faults.latency_ms))
        faults.max_read = int(body.get("max_read", faults.max_read))
        for kind, count in dict(body.get("next", {})).items():
            faults.queue(kind, int(count))
    except (ValueError, TypeError, AttributeError) as exc:
        return web.json_response({"error": f"bad dongle fault: {exc}"}, status=400)
    return _json({"success": True})


async def _set_faults(request: web.Request) -> web.Response:
    faults = state_of(request).faults
    body = await request.json()
    faults.latency_ms = float(body.get("latency_ms", faults.latency_ms))
    faults.dataframe_timeout_rate = float(body.get("dataframe_timeout_rate", faults.dataframe_timeout_rate))
    faults.http_500_rate = float(body.get("http_500_rate", faults.http_500_rate))
    try:
        endpoint = body.get("endpoint")  # a path suffix the faults wait for, such as remoteSet/write
        for kind, count in dict(body.get("fail_next", {})).items():
            faults.fail_next(kind, int(count), endpoint=None if endpoint is None else str(endpoint))
        slow = body.get("slow_write")
        if slow is not None:
            write = SlowWrite(float(slow["answer_after_s"]), float(slow.get("apply_after_s", 0)))
            faults.slow_writes.extend([write] * int(slow.get("count", 1)))
        faults.login_page_after_write += int(body.get("login_page_after_write", 0))
        faults.energy_dips += int(body.get("energy_dips", 0))
        faults.write_refusals.extend(str(text) for text in body.get("refuse_writes_with", []))
        raised = body.get("inverter_codes")  # {"serial": ..., "fault": bits, "warning": bits}
        if raised is not None:
            inverter = state_of(request).inverters[str(raised["serial"])]
            inverter.fault_code = int(raised.get("fault", 0)) & 0xFFFFFFFF
            inverter.warning_code = int(raised.get("warning", 0)) & 0xFFFFFFFF
        if "events_refusal" in body:  # the event log refused with this text; null: answered again
            refusal = body["events_refusal"]
            faults.events_refusal = None if refusal is None else str(refusal)
        if "login_refusal" in body:
            faults.login_refusal = None if body["login_refusal"] is None else str(body["login_refusal"])
    except (ValueError, KeyError, TypeError) as exc:
        return web.json_response({"error": f"bad fault: {exc}"}, status=400)
    return _json({"success": True})


def _unknown(serial: str) -> web.Response:
    return web.json_response({"error": f"unknown serial {serial}"}, status=404)


async def _expire(request: web.Request) -> web.Response:
    state_of(request).expire_sessions()
    return _json({"success": True})


async def _offline(request: web.Request) -> web.Response:
    body = await request.json()
    state = state_of(request)
    serial = str(body.get("serial", ""))
    if serial not in state.inverters:
        return _unknown(serial)
    state.set_offline(serial, bool(body.get("lost", True)))
    return _json({"success": True})


async def _set_batteries(request: web.Request) -> web.Response:
    """`{"serial": ..., "count": N}`: the inverter keeps its first N battery modules, or gains new ones."""
    body = await request.json()
    state = state_of(request)
    serial = str(body.get("serial", ""))
    if serial not in state.inverters:
        return _unknown(serial)
    try:
        count = int(body["count"])
    except (KeyError, TypeError, ValueError) as exc:
        return web.json_response({"error": f"bad battery count: {exc}"}, status=400)
    state.set_batteries(serial, max(0, count))
    return _json({"success": True})


async def _events(request: web.Request) -> web.Response:
    """`{"serial": ..., "raise": {"code": "E019", "text": "Bus voltage high", "type": "FAULT"}}` starts an
    event in the inverter's log; `{"serial": ..., "close": "E019"}` ends the newest ongoing one with that
    code."""
    body = await request.json()
    state = state_of(request)
    serial = str(body.get("serial", ""))
    if serial not in state.inverters:
        return _unknown(serial)
    try:
        raised = body.get("raise")
        if raised is not None:
            event = state.raise_event(
                serial, str(raised["code"]), str(raised["text"]), str(raised.get("type", "FAULT"))
            )
            return _json({"success": True, "recordId": event.record_id})
        code = str(body["close"])
    except (KeyError, TypeError) as exc:
        return web.json_response({"error": f"bad event: {exc}"}, status=400)
    if not state.close_event(serial, code):
        return web.json_response({"error": f"no ongoing {code} on {serial}"}, status=404)
    return _json({"success": True})
