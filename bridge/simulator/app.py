"""The simulated cloud over HTTP: the same paths, form fields, answer shapes and ways of saying no.

Control endpoints under `/_sim/` let tests, benchmarks and the demo steer it from another process.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from bridge.simulator.state import (
    DATAFRAME_TIMEOUT,
    REMOTE_SET_ERROR,
    SimInverter,
    SimulatorState,
    SlowWrite,
)

STATE_KEY: Final = web.AppKey("state", SimulatorState)
SESSION_COOKIE: Final = "JSESSIONID"
LOGIN_PAGE: Final = (
    "<!DOCTYPE html><html><head><title>Login</title></head><body>"
    '<form id="loginForm" action="/WManage/web/login" method="post">'
    '<input name="account"><input name="password" type="password"></form></body></html>'
)
ERROR_PAGE: Final = "<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>"

#: Fields the cloud leaves out of a runtime answer when the inverter is offline.
OFFLINE_OMITS: Final = (
    "status",
    "ppv",
    "soc",
    "vBat",
    "pCharge",
    "pDisCharge",
    "batPower",
    "pinv",
    "prec",
    "peps",
)

WRITE_ONLY_FAULTS: Final = frozenset({"remote_set_error", "write_not_applied"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(state: SimulatorState) -> web.Application:
    app = web.Application(middlewares=[_count_and_inject_faults])
    app[STATE_KEY] = state
    app.router.add_post("/WManage/api/login", _login)
    app.router.add_post("/WManage/api/inverter/getInverterRuntime", _authenticated(_runtime))
    app.router.add_post("/WManage/web/maintain/remoteRead/read", _authenticated(_remote_read))
    app.router.add_post("/WManage/web/maintain/remoteSet/write", _authenticated(_remote_write))
    app.router.add_post("/WManage/web/maintain/remoteSet/functionControl", _authenticated(_function_control))
    app.router.add_post("/WManage/web/maintain/remoteSet/bitParamControl", _authenticated(_bit_param_control))
    app.router.add_post("/WManage/web/maintain/remoteSet/writeTime", _authenticated(_write_time))
    app.router.add_post("/WManage/api/inverter/getInverterEnergyInfo", _authenticated(_energy))
    app.router.add_post("/WManage/web/config/plant/list/viewer", _authenticated(_plant_list))
    app.router.add_post("/WManage/web/config/plant/list", _authenticated(_plant_list))
    app.router.add_post("/WManage/api/inverterOverview/list", _authenticated(_inverter_overview))
    app.router.add_get("/_sim/stats", _stats)
    app.router.add_get("/_sim/devices", _devices)
    app.router.add_post("/_sim/dongle_faults", _set_dongle_faults)
    app.router.add_post("/_sim/faults", _set_faults)
    app.router.add_post("/_sim/expire", _expire)
    app.router.add_post("/_sim/offline", _offline)
    return app


def _state(request: web.Request) -> SimulatorState:
    return request.app[STATE_KEY]


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


def _fault_response(fault: str) -> web.Response:
    if fault == "http_500":
        return web.Response(status=500, text="Internal Server Error")
    if fault == "login_redirect":
        return web.Response(status=302, headers={"Location": "/WManage/web/login"})
    if fault == "http_401":
        return web.Response(status=401, text="Unauthorized")
    if fault == "login_page":
        return web.Response(text=LOGIN_PAGE, content_type="text/html")
    if fault == "html_error":
        return web.Response(text=ERROR_PAGE, content_type="text/html")
    if fault == "truncated_json":
        return web.Response(text='{"success": true, "soc": 7', content_type="application/json")
    if fault == "wrong_types":
        return _json({"success": True, "soc": "high", "vBat": [1], "inverterSn": 5, "plants": "none"})
    if fault == "remote_set_error":
        return _refusal(REMOTE_SET_ERROR)
    if fault == "deep_json":
        depth = 100_000
        return web.Response(
            text='{"success": true, "x": ' + "[" * depth + "]" * depth + "}", content_type="application/json"
        )
    if fault == "write_not_applied":
        return _json({"success": True})
    if fault == "huge_body":
        return web.Response(
            text='{"success": true, "pad": "' + "x" * 3_000_000 + '"}', content_type="application/json"
        )
    return _refusal(DATAFRAME_TIMEOUT)


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
    response = _json(_login_answer(state))
    response.set_cookie(SESSION_COOKIE, state.open_session(), httponly=True, path="/")
    return response


def _login_answer(state: SimulatorState) -> dict[str, Any]:
    batteries = [inv for inv in state.inverters.values() if inv.has_battery_parameters]
    groups = [{"parallelGroup": "A", "parallelFirstDeviceSn": batteries[0].serial}] if state.parallel else []
    return {
        "success": True,
        "userId": 10001,
        "parentUserId": 101,
        "username": state.username,
        "readonly": False,
        "role": "VIEWER",
        "realName": "Simulated Owner",
        "email": "owner@example.invalid",
        "countryText": "United States of America",
        "currentContinentIndex": 4,
        "currentRegionIndex": 0,
        "regions": [{"value": "NORTH_AMERICA", "text": "North America"}],
        "currentCountryIndex": 0,
        "countrys": [{"value": "UNITED_STATES_OF_AMERICA", "text": "United States of America"}],
        "timezone": "WEST8",
        "timezoneText": "GMT -8",
        "language": "ENGLISH",
        "telNumber": "",
        "address": "",
        "platform": "EG4",
        "clusterId": 100,
        "needHideDisChgEnergy": False,
        "allowRemoteSupport": True,
        "allowViewerVisitOptimalSet": False,
        "allowViewerVisitWeatherSet": False,
        "chartColorValues": "STANDARD",
        "tempUnit": "C",
        "tempUnitText": "\u2103",
        "dateFormat": "YYYY_MM_DD_SLASH",
        "firewallNotificationEnable": "false",
        # The device last looked at in the web portal.
        "userVisitRecord": _visit_record(state),
        "userCreateDate": "2025-05-05 19:55:50",
        "userCreatedDays": 200,
        "techInfo": {"techInfoType1": "PHONE_NUMBER", "techInfo1": "", "techInfoCount": 1},
        "plants": [
            {
                "plantId": state.plant_id,
                "name": state.plant_name,
                "timezoneHourOffset": -8,
                "timezoneMinuteOffset": 0,
                "inverters": [_inverter_entry(inverter) for inverter in state.inverters.values()],
                "parallelGroups": groups,
            }
        ],
    }


def _visit_record(state: SimulatorState) -> dict[str, Any]:
    first = next(iter(state.inverters.values()))
    return {
        "plantId": state.plant_id,
        "serialNum": first.serial,
        "phase": 1,
        "phaseValue": 1,
        "deviceType": first.device_type,
        "deviceTypeValue": first.device_type,
        "subDeviceTypeValue": -1,
        "dtc": 1,
        "dtcValue": 1,
        "powerRating": 6,
        "batteryType": "LITHIUM",
        "protocolVersion": 5,
    }


def _inverter_entry(inverter: SimInverter) -> dict[str, Any]:
    battery = inverter.has_battery_parameters
    return {
        "serialNum": inverter.serial,
        "phase": 1,
        "lost": inverter.lost,
        "dtc": 1,
        "deviceType": inverter.device_type,
        "subDeviceType": 164 if battery else -1,
        "powerRating": 6,
        "deviceTypeText4APP": inverter.model,
        "deviceTypeText": inverter.model,
        "batteryType": "LITHIUM",
        "batteryTypeText": "Lithium battery",
        "standard": "fAAB",
        "slaveVersion": 33 if battery else 19,
        "fwVersion": 34 if battery else 0,
        "allowExport2Grid": True,
        "allowGenExercise": battery,
        "withbatteryData": battery,
        "hardwareVersion": -1,
        "voltClass": 0,
        "machineType": 0,
        "odm": 4 if battery else 0,
        "protocolVersion": 5,
    }


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


def _device_header(inverter: SimInverter) -> dict[str, Any]:
    """What every answer about one inverter starts with."""
    return {
        "success": True,
        "serialNum": inverter.serial,
        "fwCode": "fAAB-2122",
        "powerRatingText": "12kW",
        "lost": inverter.lost,
        "hasRuntimeData": True,
    }


def runtime_answer(inverter: SimInverter) -> dict[str, Any]:
    """Every field a real runtime answer carries (the captured samples), with the simulated values in the
    ones the bridge reads; the rest hold plausible fixed values of the real answer's types."""
    powers = inverter.powers
    pv = powers["ppv"]
    strings = (pv * 6 // 10, pv - pv * 6 // 10, 0)  # PV power split over the three strings
    answer = _device_header(inverter) | {
        "statusText": "offline" if inverter.lost else "normal",
        "batShared": False,
        "isParallelEnabled": False,
        "allowGenExercise": False,
        "batteryType": "LITHIUM",
        "batParallelNum": "3",
        "batCapacity": "840",
        "model": 624320,
        "modelText": "0x986C0",
        "serverTime": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "deviceTime": time.strftime("%Y-%m-%d %H:%M:%S"),
        "status": 32,
        "vpv1": 3800 if strings[0] else 0,
        "vpv2": 3650 if strings[1] else 0,
        "vpv3": 0,
        "remainTime": 0,
        "ppv1": strings[0],
        "ppv2": strings[1],
        "ppv3": strings[2],
        "ppv": pv,
        "vacr": 2411,
        "vacs": 2405,
        "vact": 0,
        "fac": 5998,
        "pf": "1",
        "vepsr": 2410,
        "vepss": 2404,
        "vepst": 0,
        "feps": 5998,
        "seps": 0,
        "vBus1": 3700,
        "vBus2": 3230,
        "batteryColor": "green",
        "_12KAcCoupleInverterFlow": False,
        "_12KAcCoupleInverterData": False,
        "acCouplePower": 0,
        "hasEpsOverloadRecoveryTime": False,
        "_12KUsingGenerator": False,
        "genVolt": 0,
        "genFreq": 0,
        "genPower": 0,
        "consumptionPower114": powers["consumptionPower"],
        "pEpsL1N": 0,
        "pEpsL2N": 0,
        "haspEpsLNValue": True,
        "genDryContact": "OFF",
        "directions": {"inverterArrowDir": "toInverter" if powers["pCharge"] else "fromInverter"},
        "hasUnclosedQuickChargeTask": False,
        "hasUnclosedQuickDischargeTask": False,
        "pToGrid": powers["pToGrid"],
        "pToUser": powers["pToUser"],
        "tinner": 39,
        "tradiator1": 45,
        "tradiator2": 43,
        "tBat": inverter.battery_temperature,
        "pCharge": powers["pCharge"],
        "pDisCharge": powers["pDisCharge"],
        "batPower": powers["pCharge"] - powers["pDisCharge"],
        "soc": round(inverter.soc),
        "vBat": powers["vBat"],
        "pinv": powers["pDisCharge"],
        "prec": powers["pCharge"],
        "peps": 0,
        "consumptionPower": powers["consumptionPower"],
        "maxChgCurr": round(inverter.bms_charge_limit_a * 100),
        "maxDischgCurr": round(inverter.bms_discharge_limit_a * 100),
        "maxChgCurrValue": round(inverter.bms_charge_limit_a * 10),
        "maxDischgCurrValue": round(inverter.bms_discharge_limit_a * 10),
        "bmsCharge": True,
        "bmsDischarge": True,
        "bmsForceCharge": False,
    }
    if inverter.lost:
        for key in OFFLINE_OMITS:
            answer.pop(key, None)
        # What a real offline answer carries beside the usual fields.
        answer |= {
            "bmsBatCurrent": 0,
            "deviceTimeText": time.strftime("%Y-%m-%d"),
            "lowVoltProtect": False,
            "pLoad170": 0,
            "pvStringNumber": 3,
            "unclosedQuickChargeTaskId": 0,
            "unclosedQuickChargeTaskStatus": "NONE",
        }
    return answer


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
        # A GridBOSS answers with its own window (from register 2032), holding no battery settings.
        midbox = {"success": True, "inverterSn": inverter.serial, "deviceType": inverter.device_type}
        return _json(midbox | {"startRegister": start, "pointNumber": count, "valueFrame": ""})
    values = _state(request).read_window(inverter.serial, start, count)
    header: dict[str, Any] = {
        "success": True,
        "inverterSn": inverter.serial,
        "deviceType": inverter.device_type,
        "startRegister": start,
        "pointNumber": count,
        "valueFrame": _value_frame(inverter, start, count),
    }
    return _json({**header, **values})


def _value_frame(inverter: SimInverter, start: int, count: int) -> str:
    """Raw registers as little-endian uint16; the simulator knows the plain integer ones."""
    frame = bytearray(2 * count)
    for name, register in inverter.registers.items():
        value = inverter.values.get(name)
        if start <= register < start + count and isinstance(value, str) and value.isdigit():
            offset = 2 * (register - start)
            frame[offset : offset + 2] = (int(value) & 0xFFFF).to_bytes(2, "little")
    return base64.b64encode(bytes(frame)).decode("ascii")


async def _remote_write(request: web.Request) -> web.Response:
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


def energy_answer(inverter: SimInverter) -> dict[str, Any]:
    """Counters in tenths of kWh, growing with the simulated powers, each with its text twin."""
    counters = inverter.energy_tenths()
    answer = _device_header(inverter) | {"soc": round(inverter.soc)}
    for name, tenths in counters.items():
        answer[name] = tenths
        answer[f"{name}Text"] = f"{tenths / 10:.1f}"
    return answer


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


# -- control endpoints, for tests, benchmarks and the demo --------------------------------------------


async def _stats(request: web.Request) -> web.Response:
    state = _state(request)
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
    state = _state(request)
    return _json(
        {
            "devices": [
                {"serial": serial, "dongle_serial": state.dongle_serial(serial), "model": inverter.model}
                for serial, inverter in state.inverters.items()
            ]
        }
    )


async def _set_dongle_faults(request: web.Request) -> web.Response:
    faults = _state(request).dongle_faults
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
    faults = _state(request).faults
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
        if "login_refusal" in body:
            faults.login_refusal = None if body["login_refusal"] is None else str(body["login_refusal"])
    except (ValueError, KeyError, TypeError) as exc:
        return web.json_response({"error": f"bad fault: {exc}"}, status=400)
    return _json({"success": True})


async def _expire(request: web.Request) -> web.Response:
    _state(request).expire_sessions()
    return _json({"success": True})


async def _offline(request: web.Request) -> web.Response:
    body = await request.json()
    state = _state(request)
    serial = str(body.get("serial", ""))
    if serial not in state.inverters:
        return web.json_response({"error": f"unknown serial {serial}"}, status=404)
    state.set_offline(serial, bool(body.get("lost", True)))
    return _json({"success": True})
