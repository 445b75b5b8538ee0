"""The simulated cloud over HTTP: the same paths, form fields, answer shapes and ways of saying no. What it
answers is made in `answers.py`; the control endpoints under `/_sim/` are in `controls.py`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from bridge.simulator.answers import (
    battery_answer,
    energy_answer,
    event_answer,
    gridboss_answer,
    login_answer,
    quick_charge_status_answer,
    runtime_answer,
    value_frame,
)
from bridge.simulator.controls import STATE_KEY, add_controls, state_of
from bridge.simulator.state import (
    DATAFRAME_TIMEOUT,
    REMOTE_SET_ERROR,
    SimInverter,
    SimulatorState,
)

SESSION_COOKIE: Final = "JSESSIONID"
LOGIN_PAGE: Final = (
    "<!DOCTYPE html><html><head><title>Login</title></head><body>"
    '<form id="loginForm" action="/WManage/web/login" method="post">'
    '<input name="account"><input name="password" type="password"></form></body></html>'
)
ERROR_PAGE: Final = "<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>"

WRITE_ONLY_FAULTS: Final = frozenset({"remote_set_error", "write_not_applied"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(state: SimulatorState) -> web.Application:
    """The simulated cloud: its endpoints, with faults injected where asked."""
    app = web.Application(middlewares=[_count_and_inject_faults])
    app[STATE_KEY] = state
    app.router.add_post("/WManage/api/login", _login)
    app.router.add_post("/WManage/api/inverter/getInverterRuntime", _authenticated(_runtime))
    app.router.add_post("/WManage/web/maintain/remoteRead/read", _authenticated(_remote_read))
    app.router.add_post("/WManage/web/maintain/remoteSet/write", _authenticated(_remote_write))
    app.router.add_post("/WManage/web/maintain/remoteSet/functionControl", _authenticated(_function_control))
    app.router.add_post("/WManage/web/maintain/remoteSet/bitParamControl", _authenticated(_bit_param_control))
    app.router.add_post("/WManage/web/maintain/remoteSet/writeTime", _authenticated(_write_time))
    app.router.add_post("/WManage/web/config/quickCharge/start", _authenticated(_quick_charge(start=True)))
    app.router.add_post("/WManage/web/config/quickCharge/stop", _authenticated(_quick_charge(start=False)))
    app.router.add_post("/WManage/web/config/quickCharge/getStatusInfo", _authenticated(_quick_charge_status))
    app.router.add_post("/WManage/api/inverter/getInverterEnergyInfo", _authenticated(_energy))
    app.router.add_post("/WManage/api/battery/getBatteryInfo", _authenticated(_batteries))
    app.router.add_post("/WManage/api/midbox/getMidboxRuntime", _authenticated(_gridboss))
    app.router.add_post("/WManage/api/analyze/event/list", _authenticated(_events))
    app.router.add_post("/WManage/web/config/plant/list/viewer", _authenticated(_plant_list))
    app.router.add_post("/WManage/web/config/plant/list", _authenticated(_plant_list))
    app.router.add_post("/WManage/api/inverterOverview/list", _authenticated(_inverter_overview))
    add_controls(app)
    return app


def _state(request: web.Request) -> SimulatorState:
    return state_of(request)


def _json(payload: dict[str, Any]) -> web.Response:
    return web.json_response(payload)


def _refusal(text: str) -> web.Response:
    return _json({"success": False, "msg": text})


#: How much lower a dipped energy answer reports every counter: 5 kWh, in tenths.
ENERGY_DIP_TENTHS: Final = 50


@web.middleware
async def _count_and_inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/_sim/"):
        return await handler(request)
    state = _state(request)
    state.requests[request.path] += 1
    state.in_flight += 1
    state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
    try:
        if state.faults.latency_ms:
            await asyncio.sleep(state.faults.latency_ms / 1000)
        if request.path.endswith("remoteSet/write"):
            state.write_times.append(time.monotonic())
        fault = state.faults.take(request.path, state.rng, await _start_register(request, state))
        if fault is None or (fault in WRITE_ONLY_FAULTS and not request.path.endswith("remoteSet/write")):
            return await handler(request)
        return _fault_response(fault)
    finally:
        state.in_flight -= 1


async def _start_register(request: web.Request, state: SimulatorState) -> int | None:
    if not state.faults.wants_window():
        return None
    form = await request.post()  # aiohttp keeps the parsed form for the handler
    try:
        return int(str(form.get("startRegister", "")))
    except ValueError:
        return None


def _deep_json() -> web.Response:
    depth = 100_000
    return web.Response(
        text='{"success": true, "x": ' + "[" * depth + "]" * depth + "}", content_type="application/json"
    )


def _huge_body() -> web.Response:
    return web.Response(
        text='{"success": true, "pad": "' + "x" * 3_000_000 + '"}', content_type="application/json"
    )


#: What the cloud answers for each injected fault; any other fault is a `DATAFRAME_TIMEOUT`.
FAULT_RESPONSES: Final[dict[str, Callable[[], web.Response]]] = {
    "http_500": lambda: web.Response(status=500, text="Internal Server Error"),
    "login_redirect": lambda: web.Response(status=302, headers={"Location": "/WManage/web/login"}),
    "http_401": lambda: web.Response(status=401, text="Unauthorized"),
    "login_page": lambda: web.Response(text=LOGIN_PAGE, content_type="text/html"),
    "html_error": lambda: web.Response(text=ERROR_PAGE, content_type="text/html"),
    "truncated_json": lambda: web.Response(
        text='{"success": true, "soc": 7', content_type="application/json"
    ),
    "wrong_types": lambda: _json(
        {"success": True, "soc": "high", "vBat": [1], "inverterSn": 5, "plants": "none"}
    ),
    "remote_set_error": lambda: _refusal(REMOTE_SET_ERROR),
    "deep_json": _deep_json,
    "write_not_applied": lambda: _json({"success": True}),
    "huge_body": _huge_body,
}


def _fault_response(fault: str) -> web.Response:
    return FAULT_RESPONSES.get(fault, lambda: _refusal(DATAFRAME_TIMEOUT))()


def _authenticated(handler: Handler) -> Handler:
    async def check_session(request: web.Request) -> web.StreamResponse:
        if not _state(request).session_valid(request.cookies.get(SESSION_COOKIE)):
            return web.Response(text=LOGIN_PAGE, content_type="text/html")
        return await handler(request)

    return check_session


async def _login(request: web.Request) -> web.Response:
    state = _state(request)
    form = await request.post()
    if state.faults.login_refusal is not None:
        return _json({"success": False, "msg": state.faults.login_refusal})
    if form.get("account") != state.username or form.get("password") != state.password:
        return _json({"success": False, "msg": "LOGIN_ERROR_DISMATCH", "msgCode": 101})
    response = _json(login_answer(state))
    response.set_cookie(SESSION_COOKIE, state.open_session(), httponly=True, path="/")
    return response


def _known_inverter(request: web.Request, serial: str | None) -> SimInverter | None:
    return _state(request).inverters.get(serial or "")


async def _runtime(request: web.Request) -> web.Response:
    form = await request.post()
    serial = str(form.get("serialNum", ""))
    inverter = _known_inverter(request, serial)
    if inverter is None:
        return _refusal("apiBlocked")
    inverter.advance(time.monotonic())
    return _json(runtime_answer(inverter))


async def _remote_read(request: web.Request) -> web.Response:
    form = await request.post()
    inverter = _known_inverter(request, str(form.get("inverterSn", "")))
    if inverter is None:
        return _refusal("apiBlocked")
    try:
        start = int(str(form.get("startRegister", "")))
        count = int(str(form.get("pointNumber", "")))
    except ValueError:
        return _refusal("PARAM_ERROR")
    if inverter.lost:
        return _refusal(DATAFRAME_TIMEOUT)  # nothing on the other end answers the cloud
    if not start >= 0 or not 0 < count <= 127:
        return _refusal("PARAM_ERROR")
    if not inverter.has_battery_parameters:
        # A GridBOSS answers with its own parameters (its smart ports'), holding no battery settings.
        midbox = {"success": True, "inverterSn": inverter.serial, "deviceType": inverter.device_type}
        values = _state(request).read_window(inverter.serial, start, count)
        return _json(midbox | {"startRegister": start, "pointNumber": count, "valueFrame": ""} | values)
    values = _state(request).read_window(inverter.serial, start, count)
    header: dict[str, Any] = {
        "success": True,
        "inverterSn": inverter.serial,
        "deviceType": inverter.device_type,
        "startRegister": start,
        "pointNumber": count,
        "valueFrame": value_frame(inverter, start, count),
    }
    return _json({**header, **values})


async def _remote_write(request: web.Request) -> web.Response:  # noqa: PLR0911 (one return per refusal)
    form = await request.post()
    inverter = _known_inverter(request, str(form.get("inverterSn", "")))
    if inverter is None:
        return _refusal("apiBlocked")
    if form.get("clientType") != "WEB" or form.get("remoteSetType") != "NORMAL":
        return _refusal("PARAM_ERROR")  # the documented form is required; a client that omits it is wrong
    if inverter.lost:
        return _refusal(DATAFRAME_TIMEOUT)
    state = _state(request)
    hold_param, value_text = str(form.get("holdParam", "")), str(form.get("valueText", ""))
    faults = state.faults
    if faults.write_refusals:
        return _refusal(faults.write_refusals.pop(0))
    if faults.slow_writes:
        slow = faults.slow_writes.pop(0)
        # Applied on the simulator's own clock, even after the client gave up waiting.
        asyncio.get_running_loop().call_later(
            slow.apply_after, state.write, inverter.serial, hold_param, value_text
        )
        await asyncio.sleep(slow.answer_after)
        return _json({"success": True})
    refusal = state.write(inverter.serial, hold_param, value_text)
    if refusal is None and faults.login_page_after_write > 0:
        faults.login_page_after_write -= 1
        return web.Response(text=LOGIN_PAGE, content_type="text/html")
    return _refusal(refusal) if refusal else _json({"success": True})


#: How a `remoteSet/*` endpoint applies its form to the state: the refusal text, or `None` once it holds;
#: a malformed field raises `ValueError`.
_Apply = Callable[[SimulatorState, str, Any], str | None]


def _remote_set(apply: _Apply) -> Handler:
    """A `remoteSet/*` endpoint: the inverter and the documented form checked, then `apply`."""

    async def handle(request: web.Request) -> web.Response:
        form = await request.post()
        inverter = _known_inverter(request, str(form.get("inverterSn", "")))
        if inverter is None:
            return _refusal("apiBlocked")
        if form.get("clientType") != "WEB" or form.get("remoteSetType") != "NORMAL":
            return _refusal("PARAM_ERROR")
        if inverter.lost:
            return _refusal(DATAFRAME_TIMEOUT)
        try:
            refusal = apply(_state(request), inverter.serial, form)
        except ValueError:
            return _refusal("PARAM_ERROR")
        return _refusal(refusal) if refusal else _json({"success": True})

    return handle


def _switch(enable: str) -> bool:
    if enable not in ("true", "false"):
        raise ValueError(f"enable is {enable!r}")
    return enable == "true"


_function_control = _remote_set(
    lambda state, serial, form: state.set_function(
        serial, str(form.get("functionParam", "")), _switch(str(form.get("enable", "")))
    )
)
_bit_param_control = _remote_set(
    lambda state, serial, form: state.set_bits(
        serial, str(form.get("bitParam", "")), int(str(form.get("value")))
    )
)
_write_time = _remote_set(
    lambda state, serial, form: state.write_time(
        serial, str(form.get("timeParam", "")), int(str(form.get("hour"))), int(str(form.get("minute")))
    )
)


def _quick_charge(*, start: bool) -> Handler:
    """`quickCharge/start` or `/stop`: `inverterSn` and `clientType` (pylxpweb sends `WEB`), as every
    control endpoint is answered. No duration is modelled (newer firmware's `minute` is ignored)."""

    async def handle(request: web.Request) -> web.Response:
        form = await request.post()
        inverter = _known_inverter(request, str(form.get("inverterSn", "")))
        if inverter is None:
            return _refusal("apiBlocked")
        if form.get("clientType") != "WEB":
            return _refusal("PARAM_ERROR")
        if inverter.lost:
            return _refusal(DATAFRAME_TIMEOUT)
        refusal = _state(request).set_quick_charge(inverter.serial, start)
        return _refusal(refusal) if refusal else _json({"success": True})

    return handle


async def _quick_charge_status(request: web.Request) -> web.Response:
    form = await request.post()
    inverter = _known_inverter(request, str(form.get("inverterSn", "")))
    if inverter is None or not inverter.has_battery_parameters:
        return _refusal("apiBlocked")
    return _json(quick_charge_status_answer(inverter))


async def _gridboss(request: web.Request) -> web.Response:
    form = await request.post()
    state = _state(request)
    gridboss = state.inverters.get(str(form.get("serialNum", "")))
    if gridboss is None or gridboss.has_battery_parameters:
        return _refusal("apiBlocked")
    now = time.monotonic()
    for inverter in state.inverters.values():
        if inverter.has_battery_parameters:
            inverter.advance(now)
    return _json(gridboss_answer(state, gridboss))


async def _batteries(request: web.Request) -> web.Response:
    form = await request.post()
    inverter = _known_inverter(request, str(form.get("serialNum", "")))
    if inverter is None:
        return _refusal("apiBlocked")
    inverter.advance(time.monotonic())
    return _json(battery_answer(inverter))


async def _events(request: web.Request) -> web.Response:
    form = await request.post()
    state = _state(request)
    inverter = _known_inverter(request, str(form.get("serialNum", "")))
    if inverter is None:
        return _refusal("apiBlocked")
    if state.faults.events_refusal is not None:
        return _refusal(state.faults.events_refusal)
    try:
        page, rows = int(str(form.get("page", "1"))), int(str(form.get("rows", "30")))
    except ValueError:
        return _refusal("paramError")
    return _json(event_answer(state, inverter, page, rows))


async def _energy(request: web.Request) -> web.Response:
    form = await request.post()
    inverter = _known_inverter(request, str(form.get("serialNum", "")))
    if inverter is None:
        return _refusal("apiBlocked")
    inverter.advance(time.monotonic())
    answer = energy_answer(inverter)
    faults = _state(request).faults
    if faults.energy_dips > 0:
        faults.energy_dips -= 1
        answer |= {
            name: max(0, value - ENERGY_DIP_TENTHS)
            for name, value in answer.items()
            if name.startswith(("today", "total")) and isinstance(value, int)
        }
    return _json(answer)


async def _plant_list(request: web.Request) -> web.Response:
    state = _state(request)
    row = {
        "id": state.plant_id,
        "plantId": state.plant_id,
        "name": state.plant_name,
        "nominalPower": 0,
        "country": "United States of America",
        "currentTimezoneWithMinute": -800,
        "timezone": "GMT -8",
        "daylightSavingTime": False,
        "createDate": "2025-05-05",
        "noticeFault": False,
        "noticeWarn": False,
        "noticeEmail": "",
        "noticeEmail2": "",
        "contactPerson": "",
        "contactPhone": "",
        "address": "",
    }
    return _json({"total": 1, "rows": [row]})


async def _inverter_overview(request: web.Request) -> web.Response:
    """The overview list: one row per device, with a few runtime values as the web page shows them."""
    state = _state(request)
    rows = []
    for index, inverter in enumerate(state.inverters.values()):
        inverter.advance(time.monotonic())
        powers = inverter.powers
        row: dict[str, Any] = {
            "serialNum": inverter.serial,
            "statusText": "offline" if inverter.lost else "normal",
            "deviceType": inverter.device_type,
            "deviceTypeText": inverter.model,
            "phase": 1,
            "plantId": state.plant_id,
            "plantName": state.plant_name,
            "soc": f"{round(inverter.soc)} %",
            "parallelGroup": "A" if state.parallel and inverter.has_battery_parameters else "",
            "parallelIndex": str(index) if state.parallel else "",
            "parallelInfo": "",
            "parallelModel": "",
            "endUser": state.username,
        }
        # Each value twice, as the web page has it: the number, and the text shown (`1.2 kW`, `53.1 V`).
        values = {
            "ppv": (powers.get("ppv", 0), "W"),
            "pCharge": (powers.get("pCharge", 0), "W"),
            "pDisCharge": (powers.get("pDisCharge", 0), "W"),
            "pConsumption": (powers.get("consumptionPower", 0), "W"),
            "vBat": (powers.get("vBat", 0), "V/10"),
            "totalYielding": (123_456, "kWh/10"),
            "totalDischarging": (45_678, "kWh/10"),
            "totalExport": (67_890, "kWh/10"),
            "totalUsage": (98_765, "kWh/10"),
        }
        for key, (value, unit) in values.items():
            row[key] = value
            row[f"{key}Text"] = f"{value} W" if unit == "W" else f"{value / 10:.1f} {unit.split('/')[0]}"
        rows.append(row)
    return _json({"success": True, "total": len(rows), "rows": rows})
