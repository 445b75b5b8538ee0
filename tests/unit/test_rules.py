"""The rules between settings, word for word through `check_rules`; why a family gets a setting or not;
and the fault text's length at Home Assistant's limit exactly."""

from __future__ import annotations

import pytest

from bridge.core.catalogue import setting_by_key
from bridge.core.errors import CommandRefused
from bridge.core.families import Family
from bridge.core.faults import MAX_STATE_CHARS, describe
from bridge.core.kinds import Offer, Provenance, Source
from bridge.core.policy import check_rules

pytestmark = pytest.mark.unit

PEAK_SHAVING_OFF = (
    "Grid Peak Shaving Power is refused by the firmware while Grid Peak Shaving is off, and zeroed when it "
    "is turned off: turn grid/peak_shaving ON first"
)


@pytest.mark.parametrize(
    ("key", "value", "held", "refusal"),
    [
        ("grid_peak_shaving_power", "5", {}, PEAK_SHAVING_OFF),  # judged while unknown: the rule says so
        ("grid_peak_shaving_power", "5", {"grid_peak_shaving": "OFF"}, PEAK_SHAVING_OFF),
        ("grid_peak_shaving_power", "5", {"grid_peak_shaving": "ON"}, None),
        ("battery_off_grid_cutoff_soc", "30", {"battery_discharge_cutoff_soc": "20"},
         "the Off-grid Discharge Cut-off SOC may not be above the On-grid Discharge Cut-off SOC the inverter "
         "holds (20 %)"),
        ("battery_off_grid_cutoff_soc", "20", {"battery_discharge_cutoff_soc": "20"}, None),
        ("battery_off_grid_cutoff_soc", "30", {}, None),  # not judged while the other is unknown
        ("battery_discharge_cutoff_soc", "10", {"battery_off_grid_cutoff_soc": "15"},
         "the On-grid Discharge Cut-off SOC may not be below the Off-grid Discharge Cut-off SOC the inverter "
         "holds (15 %)"),
        ("battery_discharge_cutoff_soc", "15", {"battery_off_grid_cutoff_soc": "15"}, None),
    ],
)  # fmt: skip
def test_each_rule_between_settings_in_its_own_words(
    key: str, value: str, held: dict[str, str], refusal: str | None
) -> None:
    setting = setting_by_key(key)
    assert setting is not None
    if refusal is None:
        check_rules(setting, value, held)
        return
    with pytest.raises(CommandRefused) as refused:
        check_rules(setting, value, held)
    assert str(refused.value) == refusal


def test_a_family_is_told_why_it_does_not_get_a_setting() -> None:
    disputed = Provenance((Source.PYLXPWEB,), contested=((Family.LUXPOWER, "percent there"),))
    assert disputed.offer(Family.EG4_HYBRID) == (Offer.OFFERED, "")
    assert disputed.offer(Family.LUXPOWER) == (Offer.CONTESTED, "percent there")
    assert disputed.offer(Family.UNKNOWN) == (
        Offer.ABSENT,
        "the model is not identified, and not every family has it the same way",
    )
    assert Provenance((Source.PYLXPWEB,)).offer(Family.UNKNOWN) == (Offer.OFFERED, "")


def test_a_text_exactly_at_the_limit_is_kept_whole() -> None:
    words = {0: "x" * (MAX_STATE_CHARS - len("E000 "))}
    assert describe(1, "E", words, {}) == "E000 " + words[0]
    assert describe(1, "E", words | {0: words[0] + "y"}, {}).endswith("…")
    assert describe(1 << 31, "E", {31: "top"}, {}) == "E031 top"
