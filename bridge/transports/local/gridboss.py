"""The GridBOSS's (MID box's) input registers, in the cloud's vocabulary: each register read here is one raw
number of the cloud's `getMidboxRuntime` answer (`midboxData`), so that one parser (`parse_gridboss`, which
applies the scales and sums the legs) serves the cloud's answer and the registers alike. Plain data and pure
functions, no I/O.

Sources, read at the commits named (docs/LOCAL.md has the full table of who says what):
- galets/eg4-modbus-monitor `src/registers-gridboss.yaml` @cf048b8 (read over the GridBOSS's RS485 dongle
  port; names every register after the cloud's field; its generator `bin/generate/accessors.js` gives the
  scales by unit: V /10, A /100, W x1 signed, kWh /10, Hz /100).
- joyfulhouse/pylxpweb `src/pylxpweb/registers/gridboss.py` @068e59c ("Cross-validated against Web API
  getMidboxRuntime"; all input registers, function 4) and joyfulhouse/eg4_web_monitor `docs/DATA_MAPPING.md`
  §4 with its evidence ledger `llmwiki/40-hardware/registers.md` @3aeaa3b: one author, so one lineage.

Only what both lineages give the same register and scale, and eg4_web_monitor grades `portal-correlated`, is
read. Left out, and so never published from the registers (the cloud's answer gives them in `hybrid`):
- the currents (10-25): /100 in galets, /10 in pylxpweb; the bridge reads no current anyway;
- today's grid import and export (46-49): galets reads 46 as export and 48 as import, and 49 as the
  generator's energy today (`eGenToday`), where pylxpweb reads 47 and 49 as the export's and import's L2;
  the portal correlation cannot settle it (both sides' L2 read 0 in practice, DATA_MAPPING.md says);
- the smart ports' modes (holding register 20, two bits a port): pylxpweb's lineage alone (galets leaves
  them out), with no write encoding either source agrees on: read and written through the cloud only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from bridge.core.encodings import WORD
from bridge.core.readings import GridBossRuntime, parse_gridboss
from bridge.transports.local.registers import Input

#: The GridBOSS's device type code in holding register 19 (pylxpweb `DEVICE_TYPE_MIDBOX = 50`,
#: `transports/_register_readers.py`; eg4_web_monitor DATA_MAPPING.md §4 "Device type code: 50").
DEVICE_TYPE_CODE: Final = 50

#: Reads of at most 40 registers, whatever the dongle takes for an inverter: pylxpweb keeps GridBOSS reads
#: at 40 or fewer because larger ones "empirically failed on real GridBOSS hardware" (`_register_data.py`).
BLOCK: Final = 40

_LEGS: Final = ("L1", "L2")
#: The active power of each leg, signed watts as they are (both: galets `W` signed, pylxpweb `signed=True`,
#: no scale): 26-33 the grid, load, generator and backup (UPS) side, 34-41 smart ports 1-4.
_POWER_NAMES: Final = (
    *(f"{side}{leg}ActivePower" for side in ("grid", "load", "gen", "ups") for leg in _LEGS),
    *(f"smartLoad{port}{leg}ActivePower" for port in range(1, 5) for leg in _LEGS),
)

#: By the cloud's `midboxData` field: the register that holds its raw number.
INPUTS: Final[Mapping[str, Input]] = {
    "gridRmsVolt": Input((1,)),  # V x10; both
    "upsRmsVolt": Input((2,)),  # V x10; both (the backup side)
    **{name: Input((26 + offset,), signed=True) for offset, name in enumerate(_POWER_NAMES)},
    # Today's energy, kWh x10, each leg (both: 42-45 load L1, L2, UPS L1, L2).
    "eLoadTodayL1": Input((42,)),
    "eLoadTodayL2": Input((43,)),
    "eUpsTodayL1": Input((44,)),
    "eUpsTodayL2": Input((45,)),
    "gridFreq": Input((129,)),  # Hz x100; both (128 the phase lock's, 130 the generator's)
}


def input_registers() -> tuple[int, ...]:
    """Every register the runtime reads, sorted."""
    return tuple(sorted({register for spec in INPUTS.values() for register in spec.spans}))


def decode(words: Mapping[int, int], serial: str) -> GridBossRuntime:
    """The GridBOSS's runtime from its registers: what they give, and nothing (`None`) for what they do not.
    A register missing from `words` is a `KeyError`: the caller reads them all."""
    data = {name: spec.decode(words) for name, spec in INPUTS.items()}
    return parse_gridboss({"serialNum": serial, "lost": False, "midboxData": data}, serial)


def encode(data: Mapping[str, Any]) -> dict[int, int]:
    """The registers holding the cloud's `midboxData` raw numbers (the inverse of `decode`, for the
    simulator); a field the registers do not give is left out, a field missing reads 0."""
    words: dict[int, int] = dict.fromkeys(input_registers(), 0)
    for name, spec in INPUTS.items():
        value = data.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            words[spec.registers[0]] = value & WORD  # a negative power as two's complement
    return words
