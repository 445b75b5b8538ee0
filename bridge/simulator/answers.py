"""What the simulated cloud answers, as data: the login answer, runtime, energy and a read's values, in the
cloud's shapes. The dongle and Modbus servers answer from the same functions."""

from __future__ import annotations

import base64
import time
from typing import Any, Final

from bridge.simulator.state import SimEvent, SimInverter, SimulatorState

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


def login_answer(state: SimulatorState) -> dict[str, Any]:
    """The login answer: the account, its plant, every device and the parallel group."""
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
        "userVisitRecord": visit_record(state),
        "userCreateDate": "2025-05-05 19:55:50",
        "userCreatedDays": 200,
        "techInfo": {"techInfoType1": "PHONE_NUMBER", "techInfo1": "", "techInfoCount": 1},
        "plants": [
            {
                "plantId": state.plant_id,
                "name": state.plant_name,
                "timezoneHourOffset": -8,
                "timezoneMinuteOffset": 0,
                "inverters": [inverter_entry(inverter) for inverter in state.inverters.values()],
                "parallelGroups": groups,
            }
        ],
    }


def visit_record(state: SimulatorState) -> dict[str, Any]:
    """The plant list's answer for the simulated plant."""
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


def inverter_entry(inverter: SimInverter) -> dict[str, Any]:
    """One device as the login answer lists it."""
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


def device_header(inverter: SimInverter) -> dict[str, Any]:
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
    answer = device_header(inverter) | {
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
        "hasUnclosedQuickChargeTask": inverter.quick_charging,
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


def value_frame(inverter: SimInverter, start: int, count: int) -> str:
    """Raw registers as little-endian uint16; the simulator knows the plain integer ones."""
    frame = bytearray(2 * count)
    for name, register in inverter.registers.items():
        value = inverter.values.get(name)
        if start <= register < start + count and isinstance(value, str) and value.isdigit():
            offset = 2 * (register - start)
            frame[offset : offset + 2] = (int(value) & 0xFFFF).to_bytes(2, "little")
    return base64.b64encode(bytes(frame)).decode("ascii")


def energy_answer(inverter: SimInverter) -> dict[str, Any]:
    """Counters in tenths of kWh, growing with the simulated powers, each with its text twin."""
    counters = inverter.energy_tenths()
    answer = device_header(inverter) | {"soc": round(inverter.soc)}
    for name, tenths in counters.items():
        answer[name] = tenths
        answer[f"{name}Text"] = f"{tenths / 10:.1f}"
    return answer


def battery_answer(inverter: SimInverter) -> dict[str, Any]:
    """The battery answer in the cloud's shape and scales: module volts x100, amperes x10, cell volts in
    mV, temperatures x10. An offline inverter's bank is `lost`, with no modules, as the cloud answers."""
    if inverter.lost:
        return {"success": True, "serialNum": inverter.serial, "lost": True, "totalNumber": 0}
    soc = round(inverter.soc)
    cell_mv = round(3000 + inverter.soc * 3.5)
    battery_watts = inverter.powers.get("pCharge", 0) - inverter.powers.get("pDisCharge", 0)
    current_tenths = round(battery_watts / 51.2 / max(1, len(inverter.batteries)) * 10)
    modules = [
        {
            "batteryKey": f"{inverter.serial}_{battery.serial}",
            "batterySn": battery.serial,
            "batIndex": battery.index,
            "lost": battery.lost,
            "totalVoltage": cell_mv * 16 // 10,
            "current": current_tenths,
            "soc": soc,
            "soh": 100,
            "currentFullCapacity": 280,
            "batMaxCellTemp": 250,
            "batMinCellTemp": 240,
            "batMaxCellVoltage": cell_mv + battery.cell_spread_mv,
            "batMinCellVoltage": cell_mv,
            "batChargeMaxCur": 2000,
            "batChargeVoltRef": 560,
            "cycleCnt": battery.cycles,
            "fwVersionText": "2.17",
        }
        for battery in inverter.batteries
    ]
    return device_header(inverter) | {
        "soc": soc,
        "lost": False,
        "totalNumber": len(modules),
        "batteryArray": modules,
    }


PORTS: Final = (1, 2, 3, 4)


def gridboss_answer(state: SimulatorState, gridboss: SimInverter) -> dict[str, Any]:
    """The GridBOSS's runtime in the cloud's shape (`midboxData`): the grid and load split evenly over the
    two legs from the inverters' flows, port 1 in smart-load mode feeding a load, port 2 AC-coupled."""
    inverters = [inverter for inverter in state.inverters.values() if inverter.has_battery_parameters]
    grid = sum(inv.powers.get("pToUser", 0) - inv.powers.get("pToGrid", 0) for inv in inverters)
    load = sum(inv.powers.get("consumptionPower", 0) for inv in inverters)
    legs = {"grid": grid, "load": load, "ups": load, "gen": 0, "smartLoad1": 300, "smartLoad2": -450}
    data: dict[str, Any] = {
        "gridRmsVolt": 2418,
        "upsRmsVolt": 2410,
        "gridFreq": 5998,
        # The mode alone, as the cloud says it: a port whose flag is off reads the same.
        **{f"smartPort{port}Status": gridboss.values.get(f"BIT_MIDBOX_SP_MODE_{port}", 0) for port in PORTS},
    }
    for leg, watts in legs.items():
        data[f"{leg}L1ActivePower"] = watts // 2
        data[f"{leg}L2ActivePower"] = watts - watts // 2
    for port in (3, 4):
        data[f"smartLoad{port}L1ActivePower"] = data[f"smartLoad{port}L2ActivePower"] = 0
    today = {"ToUser": 123, "ToGrid": 45, "Load": 210, "Ups": 180}
    for name, tenths in today.items():
        data[f"e{name}TodayL1"], data[f"e{name}TodayL2"] = tenths, 0  # L2's counters read 0 in practice
    return {
        "success": True,
        "serialNum": gridboss.serial,
        "lost": gridboss.lost,
        "fwCode": "IAAB-1300",
        "midboxData": data,
    }


def event_answer(state: SimulatorState, inverter: SimInverter, page: int, rows: int) -> dict[str, Any]:
    """A page of the inverter's event log, newest first, in the row shape pylxpweb's `get_event_list`
    documents from live answers (an ongoing row leaves out `renormalSlashTime` and has no
    `faultDuration`; times are the portal's local time, without a zone)."""
    newest_first = inverter.events[::-1]
    first = (max(page, 1) - 1) * rows
    return {
        "success": True,
        "total": len(newest_first),
        "rows": [event_row(state, inverter, event) for event in newest_first[first : first + max(rows, 0)]],
    }


def event_row(state: SimulatorState, inverter: SimInverter, event: SimEvent) -> dict[str, Any]:
    """One event as the log lists it: ongoing (`OPEN`, no end) or ended (`CLOSE`, its end and duration)."""
    row: dict[str, Any] = {
        "recordId": event.record_id,
        "plantName": state.plant_name,
        "serialNum": inverter.serial,
        "datalogSn": state.dongle_serial(inverter.serial),
        "eventTypeText": "Fault" if event.kind == "FAULT" else "Notice",
        "eventType": event.kind,
        "eventText": event.text,
        "event": event.code,
        "startTime": _portal_time(event.started, "-"),
        "startSlashTime": _portal_time(event.started, "/"),
        "renormalTime": None,
        "status": "OPEN",
    }
    if event.ended is not None:
        row |= {
            "renormalTime": _portal_time(event.ended, "-"),
            "renormalSlashTime": _portal_time(event.ended, "/"),
            "faultDuration": f"{(event.ended - event.started) / 3600:.2f}",
            "status": "CLOSE",
        }
    return row


def _portal_time(seconds: float, separator: str) -> str:
    return time.strftime(f"%Y{separator}%m{separator}%d %H:%M:%S", time.localtime(seconds))


def quick_charge_status_answer(inverter: SimInverter) -> dict[str, Any]:
    """`quickCharge/getStatusInfo`, in the fields pylxpweb's `QuickChargeStatus` reads: the open task's id
    and status only while one is open (`WAIT_CHARGE`, as the captured runtime answer says it), the seconds
    left of one that ends by itself."""
    answer: dict[str, Any] = {
        "success": True,
        "hasUnclosedQuickChargeTask": inverter.quick_charging,
        "hasUnclosedQuickDischargeTask": False,
        "remainTimeBeforeQuickChargeStop": 0,
        "lowVoltProtect": False,
    }
    if inverter.quick_charge_task is not None:
        answer |= {"unclosedQuickChargeTaskId": inverter.quick_charge_task,
                   "unclosedQuickChargeTaskStatus": "WAIT_CHARGE"}  # fmt: skip
    if inverter.quick_charge_ends is not None:
        answer["remainTimeBeforeQuickChargeStop"] = max(
            0, round(inverter.quick_charge_ends - time.monotonic())
        )
    return answer
