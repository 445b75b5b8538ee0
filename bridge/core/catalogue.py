"""The catalogue: one row per setting and sensor, the single table read by validation, MQTT topics,
discovery, the transports' register tables and docs/SETTINGS.md. Each row says its register encoding, its
unit and range, and per model family who agrees and who disputes it. The kinds the rows are made of are in
`bridge.core.kinds`. Plain data, no I/O.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Final

from bridge.core.encodings import ClockPart, Flag, Scaled
from bridge.core.families import Family
from bridge.core.kinds import (
    Declined,
    NumberSetting,
    Provenance,
    Retired,
    Risk,
    SelectSetting,
    Sensor,
    Setting,
    Source,
    SwitchSetting,
    WindowSetting,
    offered_in_family,
    window_fields,
)


# pragma: no mutate start
# Runs at import, building the tables below: mutmut cannot reach it there; the unit tests pin every
# row it builds instead.
def _number(
    topic_path: str,
    name: str,
    hold_param: str,
    register: int,
    bounds: tuple[str, str, str],
    unit: str,
    device_class: str | None,
    icon: str,
    risk: Risk = Risk.EVERYDAY,
    limit_setting: str | None = None,
    *,
    factor: int | None = None,
    provenance: Provenance,
) -> NumberSetting:
    """A number; `factor` is its register encoding (the register holds the value times it), `None` when
    the sources do not agree on one (the cloud only)."""
    low, high, step = (Decimal(bound) for bound in bounds)
    local = () if factor is None else ((hold_param, Scaled(register, factor)),)
    return NumberSetting(
        topic_path.replace("/", "_"), name, topic_path, hold_param, register, low, high, step, unit, device_class, icon, risk,
        limit_setting, local, provenance,
    )  # fmt: skip


def _switch(
    key: str, name: str, topic_path: str, func_param: str, bit: tuple[int, int] | None, icon: str,
    risk: Risk = Risk.EVERYDAY, *, register: int | None = None, provenance: Provenance, endpoints: str | None = None,
) -> SwitchSetting:  # fmt: skip
    """A flag; `bit` is (register, bit) where the sources agree on it, `None` for the cloud only."""
    local = () if bit is None else ((func_param, Flag(*bit)),)
    where = bit[0] if bit is not None else register
    assert where is not None
    return SwitchSetting(key, name, topic_path, func_param, where, icon, risk, local, provenance, endpoints)


def _windows(
    group: str,
    label: str,
    prefix: str,
    first_register: int,
    icon: str,
    *,
    local: bool,
    provenance: Provenance,
    count: int = 3,
    write_time: bool = False,
    read_as: str | None = None,
    risk: Risk = Risk.EVERYDAY,
) -> tuple[WindowSetting, ...]:
    """The windows of one schedule, window_1..N on MQTT: in the cloud unsuffixed, `_1`, `_2`, or, for a
    schedule written with `writeTime`, `_1` to `_N`. Each boundary register holds the hour in its low
    byte and the minute in its high byte. `read_as` is the numbered name the cloud reads such a schedule
    under when it is not `prefix`'s (`LSP_HOLD_DIS_CHG_POWER_TIME_37`: four numbers a window)."""
    suffixes = [f"_{number}" for number in range(1, count + 1)] if write_time else ["", "_1", "_2"][:count]
    windows = []
    for number, suffix in enumerate(suffixes, start=1):
        start = first_register + 2 * (number - 1)
        read_names = None if read_as is None else _numbered_names(read_as, 4 * (number - 1))
        names = read_names or window_fields(prefix, suffix)
        clock = [ClockPart(start + offset, high_byte=high, highest=59 if high else 23)
                 for offset in (0, 1) for high in (False, True)]  # fmt: skip
        windows.append(
            WindowSetting(
                key=f"{group}_window_{number}",
                name=f"{label} Window {number}",
                topic_path=f"{group}/window_{number}",
                prefix=prefix,
                suffix=suffix,
                start_register=start,
                icon=icon,
                risk=risk,
                local=tuple(zip(names, clock, strict=True)) if local else (),
                provenance=provenance,
                write_time=write_time,
                read_names=read_names,
            )
        )
    return tuple(windows)


def _numbered_names(first: str, skip: int) -> tuple[str, str, str, str]:
    """Four numbered names from `first` on, `skip` past it: `LSP_HOLD_DIS_CHG_POWER_TIME_41` ... `_44`."""
    base, _, number = first.rpartition("_")
    start = int(number) + skip
    return (f"{base}_{start}", f"{base}_{start + 1}", f"{base}_{start + 2}", f"{base}_{start + 3}")


# pragma: no mutate end
P, E, X, A, G, C = Source.PYLXPWEB, Source.EG4_WEB_MONITOR, Source.LXP_BRIDGE, Source.LUXPOWER_HA, Source.LUXPYTHON, Source.CLOUD  # fmt: skip
HYBRID, OFF_GRID, LUX = Family.EG4_HYBRID, Family.EG4_OFF_GRID, Family.LUXPOWER

#: Why a grid-tied setting is not offered on the off-grid family.
NO_GRID_ON_OFF_GRID: Final = "the off-grid models have no grid sell-back, export or peak shaving (eg4_web_monitor hides it there)"  # fmt: skip
REFUSED_ON_OFF_GRID: Final = "the cloud refuses it on the off-grid models (REMOTE_SET_ERROR on a 12000XP), and eg4_web_monitor hides it there"  # fmt: skip
LUX_PERCENT: Final = "lxp-bridge, luxpower-ha-integration and LuxPython read this register as percent (0-100) on Luxpower models, where the EG4 sources read kW x10"  # fmt: skip
#: The quick charge status answer's field: whether a quick charge is under way (pylxpweb `QuickChargeStatus`,
#: eg4_web_monitor's switch state); through the registers, bit 0 of register 233 (pylxpweb reads it so).
QUICK_CHARGE_RUNNING: Final = "hasUnclosedQuickChargeTask"
QUICK_CHARGE_OFF_GRID: Final = "the 12000XP's firmware refuses register 233 (ILLEGAL DATA ADDRESS, eg4_web_monitor issue 296) and no source shows the 6000XP using its bit 0; eg4_web_monitor starts it there through the cloud only, which the bridge does not offer per transport"  # fmt: skip
QUICK_CHARGE_NOTE: Final = (
    "ON starts a quick charge, OFF stops it. Through the cloud: `quickCharge/start` and `quickCharge/stop` "
    "(`inverterSn`, `clientType=WEB`; pylxpweb `start_quick_charge`, eg4_web_monitor's switch), its state "
    "`hasUnclosedQuickChargeTask` of `quickCharge/getStatusInfo` (`inverterSn`), read with the settings "
    "until it first answered, then taken from the runtime answer, which carries the same flag (pylxpweb's "
    "runtime model), unless a start or stop came after it. "
    "Through the registers: register 233 bit 0 (pylxpweb `FUNC_QUICK_CHG_START_EN`, luxpower-ha-integration "
    "`ubQuickChgStartEn`; eg4_web_monitor saw the portal's start set it on a FlexBOSS21, and it works on an "
    "LXP-LB), written alone. lxp-bridge and LuxPython do not name it. It may end by itself, and OFF is "
    "then read: started through the registers it runs for the firmware's default length (60 minutes, "
    "pylxpweb), through the cloud without a duration until stopped (pylxpweb: the older firmware's way; "
    "what newer firmware does then, no source says). eg4_web_monitor holds the commanded state up to 300 s "
    "after a cloud start, the status answer not always showing the task at once: a read-back may then say "
    "OFF (`unconfirmed`), and the next settings read shows the truth. Its duration is not offered: the "
    "cloud's start takes `minute` on newer firmware only (pylxpweb and eg4_web_monitor, seen on an 18kPV), "
    "register 234 (minutes, 0-1440) is refused while no quick charge runs unless written in one request "
    "with register 233 (eg4_web_monitor issue 251) and counts down while one runs, so nothing holds a "
    "duration that a write could be read back from. In a parallel group a start through the cloud reaches "
    "every inverter of the group, through the registers only the one written (eg4_web_monitor's "
    "CHANGELOG, its pull request 366). Through the registers, a write of register 233's other bits (battery "
    "backup) writes bit 0 back as it was read one request before: a quick charge that ended in between "
    "would start again."
)
#: Luxpower's own register document (the 2025 edition; luxpower-ha-integration follows its 2024 one).
LUX_DOC: Final = "Luxpower's register document"

BATTERY_CHARGE_CURRENT: Final = _number(
    "battery/charge_current", "Battery Charge Current", "HOLD_LEAD_ACID_CHARGE_RATE", 101, ("0", "250", "1"), "A",
    "current", "mdi:battery-plus", limit_setting="max_charge_current", factor=1,
    provenance=Provenance((P, E, X, A, G), note="Amperes in the register, whole numbers. Maxima differ: pylxpweb's register table says 140 but its cloud setter takes 0-250; eg4_web_monitor 250 (an older table of its docs 140); luxpower-ha-integration 140 in a comment and 500 in its entity; LuxPython 255. 250 is what the cloud accepts and what a FlexBOSS21 holds. `max_charge_current` lowers it per inverter."),
)  # fmt: skip
BATTERY_DISCHARGE_CURRENT: Final = _number(
    "battery/discharge_current", "Battery Discharge Current", "HOLD_LEAD_ACID_DISCHARGE_RATE", 102, ("0", "250", "1"),
    "A", "current", "mdi:battery-minus", limit_setting="max_discharge_current", factor=1,
    provenance=Provenance((P, E, X, A, G), note="As the charge current: amperes, maxima 140 to 500 between sources, 250 taken."),
)  # fmt: skip
GRID_EXPORT_POWER_LIMIT: Final = _number(
    "grid/export_power_limit", "Grid Export Power Limit", "HOLD_FEED_IN_GRID_POWER_PERCENT", 103, ("0", "25.5", "0.1"),
    "kW", "power", "mdi:transmission-tower-export", factor=10,
    provenance=Provenance(
        (P, E), absent=((OFF_GRID, NO_GRID_ON_OFF_GRID),),
        contested=((LUX, "luxpower-ha-integration (0-100) and LuxPython (0-255) read register 103 as percent; eg4_web_monitor saw 12.1 kW on an LXP through the cloud"),),
        note="Kilowatts despite the cloud's name `..._PERCENT`: eg4_web_monitor read raw 160 through the dongle where the cloud said 16 (kW) on the same 18kPV, and offers 0-25.5 kW in steps of 0.1; pylxpweb deprecated its percent setter because 50 set a 50 kW cap. Published as `grid/export_power_percent` (0-100 %) before 0.3.",
    ),
)  # fmt: skip

#: Every setting the bridge can read and write, in the order the README's table lists them. A setting is
#: offered for an inverter only when its model's parameters include every name the setting reads, and its
#: family has it (`Provenance.offer`).
SETTINGS: Final[tuple[Setting, ...]] = (
    BATTERY_CHARGE_CURRENT,
    BATTERY_DISCHARGE_CURRENT,
    _number("battery/discharge_cutoff_soc", "On-grid Discharge Cut-off SOC", "HOLD_DISCHG_CUT_OFF_SOC_EOD", 105,
            ("10", "90", "1"), "%", "battery", "mdi:battery-arrow-down", factor=1,
            provenance=Provenance((P, E, X, A, G), note="10-90 is pylxpweb's cloud setter and eg4_web_monitor's docs; lxp-bridge's and eg4_web_monitor's entities allow 0-100.")),
    _number("battery/system_charge_soc_limit", "System Charge SOC Limit", "HOLD_SYSTEM_CHARGE_SOC_LIMIT", 227,
            ("10", "101", "1"), "%", "battery", "mdi:battery-charging-100", factor=1,
            provenance=Provenance((P, E, A, G), note="101 lets the battery top-balance (eg4_web_monitor; pylxpweb: never stop). pylxpweb allows 0-101, the others 10-101. lxp-bridge does not list register 227.")),
    _switch("battery_charge_last", "Charge Battery Last", "battery/charge_last", "FUNC_CHARGE_LAST", (110, 4),
            "mdi:battery-clock", provenance=Provenance((E, A, G), note="One fork of the Luxpower integration puts it at bit 6; the others agree on bit 4.")),
    _switch("battery_backup", "Battery Backup", "battery/backup", "FUNC_BATTERY_BACKUP_CTRL", (233, 1),
            "mdi:battery-lock", provenance=Provenance((P, E), absent=((OFF_GRID, REFUSED_ON_OFF_GRID),))),
    # A one-off action, not a flag the cloud's windows hold: started and stopped through the cloud's own
    # endpoints, its state from their status answer; through the registers, bit 0 of register 233.
    _switch("battery_quick_charge", "Quick Charge", "battery/quick_charge", QUICK_CHARGE_RUNNING, (233, 0),
            "mdi:battery-charging-high", endpoints="quickCharge",
            provenance=Provenance((P, E, A), absent=((OFF_GRID, QUICK_CHARGE_OFF_GRID),), note=QUICK_CHARGE_NOTE)),
    _number("battery/start_discharge_import", "Start-discharge Import Threshold", "HOLD_P_TO_USER_START_DISCHG", 116,
            ("50", "10000", "1"), "W", "power", "mdi:transmission-tower-import", factor=1,
            provenance=Provenance((P, E, A), absent=((OFF_GRID, "eg4_web_monitor offers it on the grid-tied models only and calls it meaningless on the off-grid ones (an SNA12K holds 0)"),),
                                  note=f"Whole watts (pylxpweb, eg4_web_monitor, luxpower-ha-integration; {LUX_DOC}: 1 W, default 50 W): the battery starts discharging when more than this is drawn from the grid. 50-10000 W is pylxpweb's and eg4_web_monitor's range; luxpower-ha-integration allows 0-65535. The cloud's name is `HOLD_P_TO_USER_START_DISCHG` (both captures, eg4_web_monitor); pylxpweb's `HOLD_PTOUSER_START_DISCHARGE` is a local name the cloud does not know. lxp-bridge names the register only.")),
    _switch("ac_charge_enabled", "AC Charge", "ac_charge/enabled", "FUNC_AC_CHARGE", (21, 7),
            "mdi:transmission-tower-import", provenance=Provenance((P, E, X, A, G), absent=((OFF_GRID, "eg4_web_monitor found the flag stored but never used on the off-grid firmware, and hides it there"),))),
    _number("ac_charge/power", "AC Charge Power", "HOLD_AC_CHARGE_POWER_CMD", 66, ("0", "15", "0.1"), "kW", "power",
            "mdi:transmission-tower-import", factor=10,
            provenance=Provenance((P, E), contested=((OFF_GRID, "register 66 reads 100 on an SNA12K, which cannot be 0-15 kW; eg4_web_monitor writes it only through the cloud there"), (LUX, LUX_PERCENT)))),
    _number("ac_charge/soc_limit", "AC Charge SOC Limit", "HOLD_AC_CHARGE_SOC_LIMIT", 67, ("0", "101", "1"), "%",
            "battery", "mdi:battery-charging-high", factor=1,
            provenance=Provenance((P, E, X, A, G), absent=((OFF_GRID, REFUSED_ON_OFF_GRID),))),
    _number("ac_charge/start_soc", "AC Charge Start SOC", "HOLD_AC_CHARGE_START_BATTERY_SOC", 160, ("0", "90", "1"),
            "%", "battery", "mdi:battery-charging-low", factor=1,
            provenance=Provenance((P, E, X, A, G), note=f"0-90 % is pylxpweb's setter, luxpower-ha-integration's and {LUX_DOC}'s range; lxp-bridge and LuxPython allow 0-100, pylxpweb's register table 1-90. On a FlexBOSS21 AC charging starts whenever the SOC is below it, in the AC charge windows or not (eg4_web_monitor). eg4_web_monitor offers it on the EG4 models, the Luxpower sources on theirs. Where AC charge stops is AC Charge SOC Limit (register 67) on the grid-tied models and register 161 on the off-grid ones (eg4_web_monitor): that one is not offered.")),
    *_windows("ac_charge", "AC Charge", "HOLD_AC_CHARGE", 68, "mdi:clock-outline", local=True,
              provenance=Provenance((E, X, A, G), note="Each boundary register: the hour in the low byte, the minute in the high byte; written one register at a time (function 6), as lxp-bridge and eg4_web_monitor do.")),
    SelectSetting("ac_charge_type", "AC Charge Type", "ac_charge/type", "BIT_AC_CHARGE_TYPE", 120,
                  ("time", "soc_volt", "time_and_soc_volt"), "mdi:format-list-bulleted",
                  provenance=Provenance((C, E), absent=((OFF_GRID, "AC charge is not used by the off-grid firmware (eg4_web_monitor)"),),
                                        note="Register 120 bits 1-3 (luxpower-ha-integration) hold more than these three values; the bridge writes it through the cloud's bitParamControl only.")),
    _switch("forced_charge_enabled", "PV Charge Priority (Charge First)", "forced_charge/enabled", "FUNC_FORCED_CHG_EN",
            (21, 11), "mdi:battery-charging", provenance=Provenance((P, E, X, A, G), note="The cloud calls it forced charge; every source calls it PV charge priority or charge first.")),
    _number("forced_charge/power", "PV Charge Priority Power", "HOLD_FORCED_CHG_POWER_CMD", 74, ("0", "15", "1"), "kW",
            "power", "mdi:battery-charging", factor=10,
            provenance=Provenance((P, E), contested=((LUX, LUX_PERCENT),), note="Whole kilowatts 0-15 (pylxpweb and eg4_web_monitor refuse fractions); published with steps of 0.1 up to 25.5 before 0.3.")),
    _number("forced_charge/soc_limit", "PV Charge Priority SOC Limit", "HOLD_FORCED_CHG_SOC_LIMIT", 75, ("0", "100", "1"),
            "%", "battery", "mdi:battery-charging-high",
            provenance=Provenance((C, X, G), absent=((OFF_GRID, REFUSED_ON_OFF_GRID),), note="Through the cloud only: luxpower-ha-integration reads register 75 as packed bytes, the others as one percentage.")),
    *_windows("forced_charge", "PV Charge Priority", "HOLD_FORCED_CHARGE", 76, "mdi:clock-outline", local=False,
              provenance=Provenance((C, E, X, A, G), absent=((OFF_GRID, REFUSED_ON_OFF_GRID),))),
    _switch("forced_discharge_enabled", "Forced Discharge", "forced_discharge/enabled", "FUNC_FORCED_DISCHG_EN",
            (21, 10), "mdi:battery-arrow-down", provenance=Provenance((P, E, X, A, G), absent=((OFF_GRID, NO_GRID_ON_OFF_GRID),))),
    _number("forced_discharge/power", "Forced Discharge Power", "HOLD_FORCED_DISCHG_POWER_CMD", 82,
            ("0", "25.5", "0.1"), "kW", "power", "mdi:battery-arrow-down", factor=10,
            provenance=Provenance((P, E), absent=((OFF_GRID, NO_GRID_ON_OFF_GRID),), contested=((LUX, LUX_PERCENT),))),
    _number("forced_discharge/soc_limit", "Forced Discharge SOC Limit", "HOLD_FORCED_DISCHG_SOC_LIMIT", 83,
            ("0", "100", "1"), "%", "battery", "mdi:battery-low",
            provenance=Provenance((C, E, G), absent=((OFF_GRID, NO_GRID_ON_OFF_GRID),), note="Through the cloud only: luxpower-ha-integration reads register 83 as packed bytes.")),
    *_windows("forced_discharge", "Forced Discharge", "HOLD_FORCED_DISCHARGE", 84, "mdi:clock-outline", local=False,
              provenance=Provenance((C, E, X, A, G), absent=((OFF_GRID, NO_GRID_ON_OFF_GRID),))),
    _switch("grid_export_enabled", "Grid Sell-back", "grid/export_enabled", "FUNC_FEED_IN_GRID_EN", (21, 15),
            "mdi:transmission-tower-export",
            provenance=Provenance((P, E, X, G), absent=((OFF_GRID, NO_GRID_ON_OFF_GRID),),
                                  contested=((LUX, "luxpower-ha-integration puts the Luxpower sell-back flag at register 22 bit 15 (from Luxpower's 2024 register document); lxp-bridge and LuxPython at register 21 bit 15"),))),
    GRID_EXPORT_POWER_LIMIT,
    _switch("grid_fast_zero_export", "Fast Zero Export", "grid/fast_zero_export", "FUNC_RUN_WITHOUT_GRID", (110, 1),
            "mdi:transmission-tower-off",
            provenance=Provenance((P, E, X, A, G), absent=((OFF_GRID, NO_GRID_ON_OFF_GRID),),
                                  note="The cloud's name misleads: the flag speeds up the zero-export control loop, it does not run the inverter without the grid (pylxpweb). `FUNC_RUN_WITHOUT_GRID_12K` (registers 225-226) is another flag, which no source maps.")),
    _switch("grid_export_pv_only", "Export PV Only", "grid/export_pv_only", "FUNC_PV_SELL_TO_GRID_EN", (179, 3),
            "mdi:solar-power-variant",
            provenance=Provenance((P, E, A), absent=((OFF_GRID, NO_GRID_ON_OFF_GRID),),
                                  note=f"pylxpweb toggled it through the cloud on a FlexBOSS21 and an 18kPV and saw register 179 change in bit 3 alone (0x104c to 0x1044). {LUX_DOC} and luxpower-ha-integration (a comment, no entity) name bit 3 `BatWakeupEn / PVSellFirst`, battery wake-up on some models. lxp-bridge and LuxPython do not name it.")),
    _switch("grid_peak_shaving", "Grid Peak Shaving", "grid/peak_shaving", "FUNC_GRID_PEAK_SHAVING", (179, 7),
            "mdi:chart-bell-curve", provenance=Provenance((P, E, A), absent=((OFF_GRID, NO_GRID_ON_OFF_GRID),))),
    _number("grid/peak_shaving_power", "Grid Peak Shaving Power", "_12K_HOLD_GRID_PEAK_SHAVING_POWER", 206,
            ("0", "25.5", "0.1"), "kW", "power", "mdi:chart-bell-curve", factor=10,
            provenance=Provenance((P, E, A, G, C), absent=((OFF_GRID, NO_GRID_ON_OFF_GRID),),
                                  note=f"Tenths of a kW in register 206: pylxpweb located it there on an 18kPV and a FlexBOSS21 and verified the encoding by a register write (raw 41 shown as 4.1 kW by the portal and the inverter's display, pylxpweb#158); eg4_web_monitor reads it so (#328) though its write still goes through the cloud, calling a register write unproven; {LUX_DOC} (0.1 kW, 0-255), LuxPython and luxpower-ha-integration's entity (kW x10) agree. Dissent: a comment in luxpower-ha-integration's register table says watts, and one fork of LuxPython maps it once as watts and once as kW. The firmware refuses it while peak shaving is off and zeroes it when peak shaving goes off (eg4_web_monitor), and the bridge refuses it then too.")),
    _number("grid/peak_shaving_soc", "Grid Peak Shaving SOC", "_12K_HOLD_GRID_PEAK_SHAVING_SOC", 207,
            ("0", "100", "1"), "%", "battery", "mdi:chart-bell-curve", factor=1,
            provenance=Provenance((P, A, G, C), absent=((OFF_GRID, NO_GRID_ON_OFF_GRID),),
                                  note=f"Whole percent in register 207: pylxpweb located it on an 18kPV and a FlexBOSS21 and matched the raw register to the cloud's value (80 read as 80); {LUX_DOC} (GridPeakShavingSOC, 0-100 %), luxpower-ha-integration and LuxPython (its start peak-shaving SOC) agree. The SOC of the first peak-shaving period; the second period's (register 218) is not offered. eg4_web_monitor does not offer it.")),
    _switch("smart_load_grid_always_on", "Smart Load Grid Always On", "smart_load/grid_always_on",
            "FUNC_ON_GRID_ALWAYS_ON", (179, 15), "mdi:power-socket",
            provenance=Provenance((P, E, A), note=f"Keeps the smart load port powered from the grid when its SOC window closes (eg4_web_monitor); it does not change the inverter's own grid connection. pylxpweb saw the portal's toggle turn register 179 from 0x1048 to 0x9048 on a FlexBOSS21 (bit 15); luxpower-ha-integration and {LUX_DOC} agree. One fork of the Luxpower integration defines it at bit 15 and again at bit 10.")),
    # Protection: only when `control.expose` names them.
    _number("battery/off_grid_cutoff_soc", "Off-grid Discharge Cut-off SOC", "HOLD_SOC_LOW_LIMIT_EPS_DISCHG", 125,
            ("0", "100", "1"), "%", "battery", "mdi:battery-alert", Risk.PROTECTION, factor=1,
            provenance=Provenance((P, E, X, A, G), note="luxpower-ha-integration gives its range as 0 to the on-grid cut-off (register 105): the bridge refuses a value above the on-grid cut-off held.")),
    _number("battery/discharge_cutoff_voltage", "On-grid Discharge Cut-off Voltage", "HOLD_ON_GRID_EOD_VOLTAGE", 169,
            ("40", "56", "0.1"), "V", "voltage", "mdi:battery-alert-variant-outline", Risk.PROTECTION, factor=10,
            provenance=Provenance((P, E, A, G), note=f"Tenths of a volt in the register (pylxpweb, eg4_web_monitor, luxpower-ha-integration, LuxPython; {LUX_DOC}: 400-560). 40-56 V is pylxpweb's, luxpower-ha-integration's and {LUX_DOC}'s range; eg4_web_monitor allows 40-58. It acts while discharge is controlled by voltage (Discharge Control by Voltage; register 120 bit 6). lxp-bridge names the register only.")),
    _number("battery/system_charge_volt_limit", "System Charge Voltage Limit", "HOLD_SYSTEM_CHARGE_VOLT_LIMIT", 228,
            ("48", "59.5", "0.1"), "V", "voltage", "mdi:flash-triangle", Risk.PROTECTION, factor=10,
            provenance=Provenance((P, E, A), note="Ranges differ: eg4_web_monitor 40-64 V, luxpower-ha-integration 40-59.5 V, pylxpweb 48-60 V; the bridge writes only 48-59.5 V, where all agree. Tenths of a volt in the register (pylxpweb, eg4_web_monitor, luxpower-ha-integration).")),
    _number("ac_charge/start_voltage", "AC Charge Start Voltage", "HOLD_AC_CHARGE_START_BATTERY_VOLTAGE", 158,
            ("39", "52", "1"), "V", "voltage", "mdi:battery-charging-low", Risk.PROTECTION, factor=10,
            provenance=Provenance((P, E, A, G), note=f"Tenths of a volt in the register (pylxpweb, luxpower-ha-integration, LuxPython; {LUX_DOC}: 385-520). Whole volts only: eg4_web_monitor says the firmware refuses fractions, where pylxpweb read back 40.5 written through the cloud on a FlexBOSS21 and an SNA12K holds 46.4; the bridge writes whole volts 39-52, inside every source's range (pylxpweb 38.4-52, luxpower-ha-integration 38.5-52, eg4_web_monitor 38-60). It acts while AC charge goes by voltage (AC Charge Type). On the off-grid models eg4_web_monitor writes it through the cloud only: a write through the dongle is unverified there. lxp-bridge names the register only.")),
    _number("ac_charge/end_voltage", "AC Charge End Voltage", "HOLD_AC_CHARGE_END_BATTERY_VOLTAGE", 159,
            ("48", "59", "1"), "V", "voltage", "mdi:battery-charging-high", Risk.PROTECTION, factor=10,
            provenance=Provenance((P, E, A, G), note=f"As the start voltage: tenths of a volt in the register ({LUX_DOC}: 480-590), whole volts only, 48-59 V inside every source's range (eg4_web_monitor 38-60). On the off-grid models eg4_web_monitor writes it through the cloud only.")),
    _number("forced_discharge/stop_voltage", "Forced Discharge Stop Voltage", "_12K_HOLD_STOP_DISCHG_VOLT", 202,
            ("40", "56", "0.1"), "V", "voltage", "mdi:battery-arrow-down-outline", Risk.PROTECTION, factor=10,
            provenance=Provenance((P, E, A), absent=((OFF_GRID, "an SNA12K's parameter list has no register 202 (pylxpweb's cloud probe), and neither pylxpweb nor eg4_web_monitor offers it on the off-grid models"),),
                                  note=f"The battery voltage forced discharge stops at, the counterpart of Forced Discharge SOC Limit. Tenths of a volt: pylxpweb read raw 400 through the registers where the cloud said 40 V on an 18kPV, and wrote 40, 41.5 and 40 V back on an 18kPV and a FlexBOSS21; luxpower-ha-integration and {LUX_DOC}: 0.1 V, 400-560. pylxpweb's register table leaves the scale out (its cloud path divides by 10), which eg4_web_monitor calls misleading. lxp-bridge and LuxPython do not list it.")),
    _switch("battery_charge_by_voltage", "Charge Control by Voltage", "battery/charge_by_voltage",
            "FUNC_BAT_CHARGE_CONTROL", (179, 9), "mdi:flash", Risk.PROTECTION, provenance=Provenance((P, E, A))),
    _switch("battery_discharge_by_voltage", "Discharge Control by Voltage", "battery/discharge_by_voltage",
            "FUNC_BAT_DISCHARGE_CONTROL", (179, 10), "mdi:flash", Risk.PROTECTION, provenance=Provenance((P, E, A))),
    # Protection: it tells parallel inverters whether they share one battery bank.
    _switch("battery_shared", "Share Battery (parallel)", "battery/shared", "FUNC_BAT_SHARED", (110, 3),
            "mdi:battery-sync", Risk.PROTECTION,
            provenance=Provenance((P, E, A), note=f"For parallel inverters on one battery bank (pylxpweb). luxpower-ha-integration names bit 3 in a comment (no entity), as {LUX_DOC} does; eg4_web_monitor's switch (a reporter saw the portal write it) is disabled in Home Assistant until the owner enables it. lxp-bridge and LuxPython do not name it.")),
    _switch("eps_enabled", "Backup Output (EPS)", "eps/enabled", "FUNC_EPS_EN", (21, 0), "mdi:power-plug-battery",
            Risk.PROTECTION, provenance=Provenance((P, E, X, A, G))),
    # The operating mode: the flag holds true for normal operation, false for standby (the inverter off).
    _switch("inverter_normal_mode", "Normal Operation (off: standby)", "inverter/normal_mode", "FUNC_SET_TO_STANDBY",
            (21, 9), "mdi:power", Risk.PROTECTION, provenance=Provenance((P, E, X, A, G))),
    _switch("grid_off_grid", "Go Off-grid", "grid/off_grid", "FUNC_GO_TO_OFFGRID", None, "mdi:transmission-tower-off",
            Risk.PROTECTION, register=110,
            provenance=Provenance((C,), absent=((OFF_GRID, "the off-grid models are off the grid already"),),
                                  contested=((LUX, "no public Luxpower source names this flag"),),
                                  note="Only the cloud's parameter list names it; pylxpweb maps it to no bit (register 110 bit 7 is the buzzer there); through the cloud only.")),
    # Protection: eg4_web_monitor calls it off-grid mode.
    _switch("inverter_green_mode", "Green Mode", "inverter/green_mode", "FUNC_GREEN_EN", (110, 14), "mdi:leaf",
            Risk.PROTECTION,
            provenance=Provenance((P, E, A), note=f"pylxpweb toggled it through the cloud on an 18kPV and saw register 110 go from 1056 to 17440 (bit 14; its earlier bit 8 was wrong); luxpower-ha-integration and {LUX_DOC} agree. eg4_web_monitor calls it Off Grid Mode and pylxpweb green/off-grid mode: it is neither Go Off-grid (`FUNC_GO_TO_OFFGRID`) nor Backup Output (register 21 bit 0). lxp-bridge and LuxPython do not name it.")),
    # Protection: it changes how the inverter treats the AC-coupled inverters on its output.
    _switch("ac_coupling_enabled", "AC Coupling", "ac_coupling/enabled", "FUNC_AC_COUPLING_FUNCTION", (179, 11),
            "mdi:sine-wave", Risk.PROTECTION,
            provenance=Provenance((P, E, A), note=f"Register 179 bit 11 in luxpower-ha-integration and {LUX_DOC} (`ubACcoupling`); pylxpweb and eg4_web_monitor map it there from those layouts, their own toggle test still outstanding (eg4_web_monitor#472). One fork of the Luxpower integration defines it at bit 11 and again at bit 8. Its start and end SOC and voltages (registers 220-223) are disputed and not offered.")),
    # Protection: a wrong value keeps the MPPT from starting, or starts it on too little.
    _number("pv/start_voltage", "PV Start Voltage", "HOLD_START_PV_VOLT", 22, ("140", "500", "1"), "V", "voltage",
            "mdi:solar-power", Risk.PROTECTION,
            provenance=Provenance((P, E, C), absent=((OFF_GRID, "an SNA12K holds 6.5 in `HOLD_START_PV_VOLT`, which cannot be a start voltage in volts; pylxpweb says register 22 carries other function bits on that platform"),),
                                  contested=((LUX, f"luxpower-ha-integration ({LUX_DOC}, 2024) packs the feed-in flag into bit 15 of register 22; the 2025 document and every other source put it at register 21 bit 15"),),
                                  note=f"Register 22 holds tenths of a volt; the cloud takes whole volts (an 18kPV reads 200, a FlexBOSS21 140). 140-500 V: eg4_web_monitor says the firmware refuses less than 140 V (error code 3) although pylxpweb and {LUX_DOC} say 90. Through the cloud only: eg4_web_monitor calls writing register 22 directly unproven.")),
    _number("battery/off_grid_cutoff_voltage", "Off-grid Discharge Cut-off Voltage", "HOLD_LEAD_ACID_DISCHARGE_CUT_OFF_VOLT", 100,
            ("40", "50", "0.1"), "V", "voltage", "mdi:battery-off", Risk.PROTECTION, factor=10,
            provenance=Provenance((P, E, A, C), contested=((LUX, f"luxpower-ha-integration and {LUX_DOC} call register 100 the lead-acid discharge cut-off; pylxpweb found it to be the off-grid end-of-discharge voltage by a live test on EG4 models only"),),
                                  note=f"Tenths of a volt in register 100 (every source; an 18kPV holds 400 where the cloud says 40). 40-50 V is what every range shares: pylxpweb allows 40-50, luxpower-ha-integration and {LUX_DOC} 40-52, eg4_web_monitor 40-58. Its on-grid twin is register 169.")),
    _number("grid/peak_shaving_voltage", "Grid Peak Shaving Voltage", "_12K_HOLD_GRID_PEAK_SHAVING_VOLT", 208,
            ("48", "59", "0.1"), "V", "voltage", "mdi:chart-bell-curve", Risk.PROTECTION, factor=10,
            provenance=Provenance((P, A, G, C), absent=((OFF_GRID, NO_GRID_ON_OFF_GRID),),
                                  note=f"Tenths of a volt in register 208: pylxpweb located it on an 18kPV and a FlexBOSS21 and matched the raw register to the cloud's value (520 read as 52 V); {LUX_DOC} (GridPeakShavingVolt, 0.1 V, 480-590), luxpower-ha-integration (48-59 V) and LuxPython (its start peak-shaving voltage) agree; 48-59 V is their range. The battery voltage of the first peak-shaving period; the second period's (register 219) is not offered. A battery voltage the bank discharges toward: a protection, as the cut-off voltages are. eg4_web_monitor does not offer it.")),
    _number("ac_charge/end_soc", "AC Charge End SOC", "HOLD_AC_CHARGE_END_BATTERY_SOC", 161, ("0", "100", "1"), "%",
            "battery", "mdi:battery-charging-high",
            provenance=Provenance((P, E, C), absent=((HYBRID, "on the grid-tied models AC charging stops at AC Charge SOC Limit (register 67); register 161 reads 0 and is read-only there (pylxpweb, eg4_web_monitor)"),),
                                  contested=((LUX, f"lxp-bridge, luxpower-ha-integration and LuxPython read register 161 as the AC charge end SOC on Luxpower models, while {LUX_DOC} (2025) leaves it out"),),
                                  note="The off-grid models' own stop-AC-charge SOC (pylxpweb, eg4_web_monitor GH #331): an SNA12K holds 100. Through the cloud only: eg4_web_monitor writes it so, a register write being unproven on those models.")),
    *_windows("generator", "Generator Charge", "HOLD_GEN", 256, "mdi:engine", local=True, count=2, write_time=True,
              provenance=Provenance((P, E, A), note=f"Registers 256-259 (pylxpweb, luxpower-ha-integration, {LUX_DOC} from V13): start and end of two windows, each the hour in the low byte and the minute in the high byte. The cloud reads them as `HOLD_GEN_START_HOUR_1` ... and takes each boundary with `writeTime` (`HOLD_GEN_START_TIME_1`), as pylxpweb and eg4_web_monitor write them.")),
    *_windows("peak_shaving", "Grid Peak Shaving", "HOLD_PEAK_SHAVING", 209, "mdi:clock-outline", local=True,
              count=2, write_time=True, read_as="LSP_HOLD_DIS_CHG_POWER_TIME_37",
              provenance=Provenance((P, E, A, G, C), absent=((OFF_GRID, NO_GRID_ON_OFF_GRID),),
                                    note=f"Registers 209-212, two windows, each boundary the hour in the low byte and the minute in the high byte (pylxpweb, eg4_web_monitor, luxpower-ha-integration, LuxPython; {LUX_DOC} 2024 and 2025 name them PeakShavingStartHour/Minute ... StartHour1). pylxpweb and eg4_web_monitor wrote them through the cloud on a FlexBOSS21 and read 01:05 back as register 211 = 1281. The cloud reads them as `LSP_HOLD_DIS_CHG_POWER_TIME_37` ... `_44` (four a window: start hour, start minute, end hour, end minute; both captured parameter lists hold them at 209-212) and takes each boundary with `writeTime` (`HOLD_PEAK_SHAVING_START_TIME_1`). One off-grid project (luxpower_sna's register map) packs the hour in the high byte; it concerns the off-grid models, which have no peak shaving. lxp-bridge does not name them.")),
    *_windows("off_grid", "Off-grid", "HOLD_OFF_GRID", 269, "mdi:clock-outline", local=True, write_time=True,
              risk=Risk.PROTECTION,
              provenance=Provenance((P, E, C), absent=((OFF_GRID, "eg4_web_monitor offers the off-grid schedule on the grid-tied EG4 models only, and no source shows it on the off-grid models"),
                                                       (LUX, f"no Luxpower source names registers 269-274: {LUX_DOC} (to its 2025 edition), luxpower-ha-integration and LuxPython end their holding tables at 261")),
                                    note="Registers 269-274, three windows, each boundary the hour in the low byte and the minute in the high byte (pylxpweb and eg4_web_monitor, one lineage: a FlexBOSS21's register 270 read 23:59 where the cloud said so). The cloud reads them as `HOLD_OFF_GRID_START_HOUR_1` ... (both captured parameter lists hold them at 269-274; the vendor app names them too) and takes each boundary with `writeTime` (`HOLD_OFF_GRID_START_TIME_1`). No source has written them on a real inverter: a window takes the home off the grid, so they are offered only when `control.expose` names them.")),
    *_windows("ac_first", "AC First", "HOLD_AC_FIRST", 152, "mdi:clock-outline", local=True,
              provenance=Provenance((E, X, A, G, C), contested=((HYBRID, "eg4_web_monitor offers the AC first windows on the off-grid models only: the EG4 portal shows them there alone, though the grid-tied models' parameter lists hold them"),),
                                    note="Registers 152-157, three windows, each boundary the hour in the low byte and the minute in the high byte (lxp-bridge, luxpower-ha-integration, LuxPython); the cloud takes them as four `remoteSet/write`s, as the AC charge windows.")),
)  # fmt: skip

SMART_PORT_NOTE: Final = (
    "Written to the GridBOSS's own serial: the mode with `bitParamControl` (`BIT_MIDBOX_SP_MODE_n`: 0 unused, 1 "
    "smart load, 2 AC couple; pylxpweb's `set_smart_port_mode`, eg4_web_monitor's select, the vendor app's "
    "request shape), then the mode's enable flag with `functionControl` (`FUNC_SMART_LOAD_EN_n` or "
    "`FUNC_AC_COUPLE_EN_n`, register 229; pylxpweb's `enable_smart_load` and `enable_ac_couple`, which say "
    "the port must be in that mode first). A mode written alone leaves its flag as it was: after `unused` "
    "the flag is off, and the port reads as a smart load while it does nothing (eg4_web_monitor issue 629). "
    "Read back from the GridBOSS's parameter windows 0 and 127: the mode and its flag; a mode whose flag is "
    "off is not taken for the mode. The meaning of 0/1/2 comes from one lineage (pylxpweb and "
    "eg4_web_monitor, one author) and the cloud's captured answers, where mode and flag always match; so "
    "the setting is offered only when `control.expose` names it. Through the cloud only."
)


def _smart_port(port: int) -> SelectSetting:
    return SelectSetting(
        f"smart_port_{port}_mode", f"Smart Port {port} Mode", f"smart_port/{port}/mode", f"BIT_MIDBOX_SP_MODE_{port}",
        20, ("unused", "smart_load", "ac_couple"), "mdi:electric-switch", Risk.PROTECTION,
        provenance=Provenance((P, E, C), note=SMART_PORT_NOTE, gridboss=True),
        enables=(None, f"FUNC_SMART_LOAD_EN_{port}", f"FUNC_AC_COUPLE_EN_{port}"), enables_register=229,
    )  # fmt: skip


#: The GridBOSS's settings: its four smart ports' modes.
GRIDBOSS_SETTINGS: Final[tuple[Setting, ...]] = tuple(_smart_port(port) for port in (1, 2, 3, 4))

#: The settings of the first release, whose per-entity discovery topics are migrated (`migrate_discovery`).
WRITABLE_PARAMETERS: Final = (BATTERY_CHARGE_CURRENT, BATTERY_DISCHARGE_CURRENT)


def setting_by_topic_path(topic_path: str) -> Setting | None:
    """The setting published under `topic_path` (`ac_charge/window_1`), if any."""
    return _BY_TOPIC_PATH.get(topic_path)


@functools.cache
def settings_for(family: Family, exposed: frozenset[str]) -> tuple[Setting, ...]:
    """The settings a `family` device gets (a GridBOSS its own), exposed where the sources dispute them:
    the same for every device of a family on every refresh, so worked out once."""
    settings = GRIDBOSS_SETTINGS if family is Family.GRIDBOSS else SETTINGS
    return tuple(setting for setting in settings if offered_in_family(setting, family, exposed))


def setting_by_key(key: str) -> Setting | None:
    """The setting with this key (`battery_charge_current`), if any."""
    return _BY_KEY.get(key)


#: Settings retired, newest last.
RETIRED: Final = (
    Retired("grid_export_power_percent", "grid/export_power_percent", "number", "grid/export_power_limit",
            "the inverter holds kilowatts there, not percent: 20 meant 20 kW", "kilowatts"),
)  # fmt: skip


#: Settings owners ask for that the bridge does not offer, and why (issue 21's list, as far as the sources
#: go). Facts and their sources as docs/SETTINGS.md gives them.
DECLINED: Final = (
    Declined("PV Input Mode", "`HOLD_PV_INPUT_MODE`, register 20",
             f"which inputs carry PV, by a table that differs by model: {LUX_DOC} (2025) gives 0-4 for most "
             "models (0 no PV, 1 PV1, 2 PV2, 3 both in parallel, 4 both apart; luxpower-ha-integration follows "
             "it) and 0-7 for the 12K hybrid (0 no PV ... 7 all three), which eg4_web_monitor offers on every "
             "model; pylxpweb names the register only. eg4_web_monitor's live probe read 0 on one working hybrid "
             "and 4 on another of the same firmware, and both captured parameter lists hold 0, 'no PV' in "
             "either table: which table an EG4 model follows is not known, and a wrong value can switch an "
             "MPPT input off", topic_path="pv/input_mode"),
    Declined("Quick Charge Duration", "`minute` of `quickCharge/start`; register 234",
             "the cloud's start takes `minute` on newer firmware only (pylxpweb, eg4_web_monitor, seen on an "
             "18kPV); register 234 (minutes, 0-1440) is refused while no quick charge runs unless written in "
             "one request with register 233 (eg4_web_monitor issue 251), and counts down while one runs. "
             "Nothing holds a duration a write could be read back from, so no result could confirm it. Quick "
             "charge itself is offered (`battery/quick_charge`)", topic_path="battery/quick_charge_duration"),
    Declined("Group-wide writes at the parallel group's primary", "any setting of an inverter in a parallel group",
             "no public source (pylxpweb, eg4_web_monitor, lxp-bridge, the Luxpower integrations) writes a "
             "setting to a group's primary on the group's behalf, or says which settings a group shares. "
             "Each inverter is written by its own serial, as every source writes it; a quick charge started "
             "through the cloud reaches the whole group by itself (eg4_web_monitor)"),
    Declined("Smart port modes through the GridBOSS's own registers", "holding register 20 of a GridBOSS, two bits a port",
             "one lineage (pylxpweb and eg4_web_monitor) reads the modes there, and no source writes them "
             "so: the modes are offered through the cloud only (`smart_port/N/mode`)"),
)  # fmt: skip


def declined_setting_message(topic_path: str) -> str | None:
    """Why a `/set` to a setting the bridge declines to offer is refused; `None` if it is not one."""
    for declined in DECLINED:
        if declined.topic_path == topic_path:
            return f"{declined.name} is not offered by the bridge, and nothing was written: {declined.why}"
    return None


def retired_setting_message(topic_path: str) -> str | None:
    """Why a retired setting's `/set` is refused, and what to use instead; `None` if not retired."""
    for retired in RETIRED:
        if retired.topic_path == topic_path:
            return (
                f"{topic_path} was retired in 0.3 ({retired.why}); nothing was written: send "
                f"{retired.instead} to {retired.replaced_by}/set"
            )
    return None


_BY_TOPIC_PATH: Final = {setting.topic_path: setting for setting in (*SETTINGS, *GRIDBOSS_SETTINGS)}
_BY_KEY: Final = {setting.key: setting for setting in (*SETTINGS, *GRIDBOSS_SETTINGS)}


# pragma: no mutate start
# Runs at import, building the tables below: mutmut cannot reach it there; the unit tests pin every
# row it builds instead.
def _energy(key: str, name: str, field: str) -> Sensor:
    return Sensor(key, name, field, f"energy/{key.removeprefix('energy_')}", "kWh", "energy", "total_increasing",
                  decimals=1)  # fmt: skip


# pragma: no mutate end
SENSORS: Final = (
    Sensor("soc", "SOC", "soc", "battery/soc", "%", "battery"),
    Sensor("battery_voltage", "Battery Voltage", "battery_voltage", "battery/voltage", "V", "voltage", decimals=1),
    Sensor("battery_power", "Battery Power", "battery_power", "battery/power", "W", "power"),
    Sensor("battery_temperature", "Battery Temperature", "battery_temperature", "battery/temperature", "°C",
           "temperature"),
    Sensor("bms_charge_current_limit", "BMS Charge Current Limit", "bms_charge_current_limit",
           "battery/bms_charge_current_limit", "A", "current"),
    Sensor("bms_discharge_current_limit", "BMS Discharge Current Limit", "bms_discharge_current_limit",
           "battery/bms_discharge_current_limit", "A", "current"),
    Sensor("pv_power", "PV Power", "pv_power", "pv/power", "W", "power"),
    Sensor("pv1_power", "PV1 Power", "pv1_power", "pv/1/power", "W", "power"),
    Sensor("pv2_power", "PV2 Power", "pv2_power", "pv/2/power", "W", "power"),
    Sensor("pv3_power", "PV3 Power", "pv3_power", "pv/3/power", "W", "power"),
    Sensor("pv1_voltage", "PV1 Voltage", "pv1_voltage", "pv/1/voltage", "V", "voltage", decimals=1),
    Sensor("pv2_voltage", "PV2 Voltage", "pv2_voltage", "pv/2/voltage", "V", "voltage", decimals=1),
    Sensor("pv3_voltage", "PV3 Voltage", "pv3_voltage", "pv/3/voltage", "V", "voltage", decimals=1),
    Sensor("grid_import_power", "Grid Import Power", "grid_import_power", "grid/import_power", "W", "power"),
    Sensor("grid_export_power", "Grid Export Power", "grid_export_power", "grid/export_power", "W", "power"),
    Sensor("grid_voltage", "Grid Voltage", "grid_voltage", "grid/voltage", "V", "voltage", decimals=1),
    Sensor("grid_frequency", "Grid Frequency", "grid_frequency", "grid/frequency", "Hz", "frequency", decimals=2),
    Sensor("load_power", "Load Power", "load_power", "load/power", "W", "power"),
    Sensor("eps_power", "EPS Power", "eps_power", "eps/power", "W", "power"),
    Sensor("inverter_temperature", "Inverter Temperature", "inverter_temperature", "inverter/temperature", "°C",
           "temperature", diagnostic=True),
    Sensor("radiator1_temperature", "Radiator 1 Temperature", "radiator1_temperature", "inverter/radiator1_temperature",
           "°C", "temperature", diagnostic=True),
    Sensor("radiator2_temperature", "Radiator 2 Temperature", "radiator2_temperature", "inverter/radiator2_temperature",
           "°C", "temperature", diagnostic=True),
    # Input registers 60-63, in words (`bridge.core.faults`): through a dongle or an adapter only.
    Sensor("fault", "Fault", "faulted", "inverter/fault", None, "problem", None, platform="binary_sensor",
           registers_only=True),
    Sensor("faults", "Fault Codes", "faults", "inverter/faults", None, None, None, icon="mdi:alert-circle",
           diagnostic=True, registers_only=True),
    Sensor("warnings", "Warning Codes", "warnings", "inverter/warnings", None, None, None, icon="mdi:alert",
           diagnostic=True, registers_only=True),
)  # fmt: skip

#: The newest event of the cloud's event log (`Event`): its code and words as the state, the rest as
#: attributes on `<base>/<sn>/inverter/last_event/attributes`. Through the cloud only.
LAST_EVENT: Final = Sensor("last_event", "Last Event", "summary", "inverter/last_event", None, None, None,
                           icon="mdi:message-alert-outline", diagnostic=True)  # fmt: skip
#: Energy counters, from the energy answer the bridge reads with the settings.
ENERGY_SENSORS: Final = (
    _energy("energy_pv_today", "PV Energy Today", "pv_today"),
    _energy("energy_pv_total", "PV Energy Total", "pv_total"),
    _energy("energy_charge_today", "Battery Charge Energy Today", "charge_today"),
    _energy("energy_charge_total", "Battery Charge Energy Total", "charge_total"),
    _energy("energy_discharge_today", "Battery Discharge Energy Today", "discharge_today"),
    _energy("energy_discharge_total", "Battery Discharge Energy Total", "discharge_total"),
    _energy("energy_import_today", "Grid Import Energy Today", "import_today"),
    _energy("energy_import_total", "Grid Import Energy Total", "import_total"),
    _energy("energy_export_today", "Grid Export Energy Today", "export_today"),
    _energy("energy_export_total", "Grid Export Energy Total", "export_total"),
    _energy("energy_load_today", "Load Energy Today", "load_today"),
    _energy("energy_load_total", "Load Energy Total", "load_total"),
)
#: Each battery module's sensors, from the cloud's battery answer or its registers (`BatteryModule`); under
#: `<serial>/battery_module/<module id>/`. Scales: see `BatteryModule`.
BATTERY_SENSORS: Final = (
    Sensor("module_soc", "SOC", "soc", "soc", "%", "battery"),
    Sensor("module_soh", "State of Health", "soh", "soh", "%", None, icon="mdi:battery-heart-variant"),
    Sensor("module_voltage", "Voltage", "voltage", "voltage", "V", "voltage", decimals=2),
    Sensor("module_current", "Current", "current", "current", "A", "current", decimals=1),
    Sensor("module_max_cell_temperature", "Max Cell Temperature", "max_cell_temperature", "max_cell_temperature",
           "°C", "temperature", decimals=1),
    Sensor("module_min_cell_temperature", "Min Cell Temperature", "min_cell_temperature", "min_cell_temperature",
           "°C", "temperature", decimals=1),
    Sensor("module_max_cell_voltage", "Max Cell Voltage", "max_cell_voltage", "max_cell_voltage", "V", "voltage",
           decimals=3),
    Sensor("module_min_cell_voltage", "Min Cell Voltage", "min_cell_voltage", "min_cell_voltage", "V", "voltage",
           decimals=3),
    Sensor("module_cell_voltage_spread", "Cell Voltage Difference", "cell_voltage_spread", "cell_voltage_spread",
           "V", "voltage", decimals=3),
    Sensor("module_cycle_count", "Cycle Count", "cycle_count", "cycle_count", None, None, "total_increasing",
           icon="mdi:battery-sync"),
    Sensor("module_full_capacity", "Full Capacity", "full_capacity", "full_capacity", "Ah", None,
           icon="mdi:battery-high", diagnostic=True),
    Sensor("module_charge_current_limit", "BMS Charge Current Limit", "charge_current_limit",
           "bms_charge_current_limit", "A", "current", decimals=1, diagnostic=True),
    Sensor("module_charge_voltage_reference", "BMS Charge Voltage", "charge_voltage_reference",
           "bms_charge_voltage", "V", "voltage", decimals=1, diagnostic=True),
)  # fmt: skip
#: A GridBOSS's sensors (`GridBossRuntime`), from the cloud; published under its own serial.
GRIDBOSS_SENSORS: Final = (
    Sensor("gridboss_grid_power", "Grid Power", "grid_power", "grid/power", "W", "power"),
    Sensor("gridboss_grid_l1_power", "Grid L1 Power", "grid_l1_power", "grid/l1_power", "W", "power"),
    Sensor("gridboss_grid_l2_power", "Grid L2 Power", "grid_l2_power", "grid/l2_power", "W", "power"),
    Sensor("gridboss_grid_voltage", "Grid Voltage", "grid_voltage", "grid/voltage", "V", "voltage", decimals=1),
    Sensor("gridboss_grid_frequency", "Grid Frequency", "grid_frequency", "grid/frequency", "Hz", "frequency",
           decimals=2),
    Sensor("gridboss_load_power", "Load Power", "load_power", "load/power", "W", "power"),
    Sensor("gridboss_backup_power", "Backup Power", "backup_power", "backup/power", "W", "power"),
    Sensor("gridboss_backup_voltage", "Backup Voltage", "backup_voltage", "backup/voltage", "V", "voltage",
           decimals=1),
    Sensor("gridboss_generator_power", "Generator Power", "generator_power", "generator/power", "W", "power"),
    *(Sensor(f"gridboss_smart_port{port}_power", f"Smart Port {port} Power", f"smart_port{port}_power",
             f"smart_port/{port}/power", "W", "power") for port in range(1, 5)),
    # The mode as the runtime answer says it, whatever its enable flag: the setting (`smart_port/N/mode`)
    # shows a mode only with its flag on.
    *(Sensor(f"gridboss_smart_port{port}_status", f"Smart Port {port} Status", f"smart_port{port}_mode",
             f"smart_port/{port}/status", None, None, None, icon="mdi:power-socket-us", diagnostic=True)
      for port in range(1, 5)),
    Sensor("gridboss_import_today", "Grid Import Energy Today", "import_today", "energy/import_today", "kWh",
           "energy", "total_increasing", decimals=1),
    Sensor("gridboss_export_today", "Grid Export Energy Today", "export_today", "energy/export_today", "kWh",
           "energy", "total_increasing", decimals=1),
    Sensor("gridboss_load_today", "Load Energy Today", "load_today", "energy/load_today", "kWh", "energy",
           "total_increasing", decimals=1),
    Sensor("gridboss_backup_today", "Backup Energy Today", "backup_today", "energy/backup_today", "kWh",
           "energy", "total_increasing", decimals=1),
)  # fmt: skip
#: What a parallel group's device shows: its inverters' powers and energy counters, summed.
GROUP_SENSORS: Final = (
    *(sensor for sensor in SENSORS if sensor.key in {
        "pv_power", "battery_power", "grid_import_power", "grid_export_power", "load_power", "eps_power"}),
    *ENERGY_SENSORS,
)  # fmt: skip
#: The sensors of the first release, whose per-entity discovery topics are migrated.
FIRST_RELEASE_SENSORS: Final = ("soc", "battery_voltage", "battery_power", "battery_temperature",
                                "bms_charge_current_limit", "bms_discharge_current_limit", "pv_power",
                                "grid_import_power", "grid_export_power")  # fmt: skip
