"""Run with pylxpweb's own interpreter by tests/e2e/test_pylxpweb.py: build the dongle frames pylxpweb sends
for a few requests, and parse the reply frames given as hex on stdin (one per line, with the request they
answer) the way pylxpweb checks them. Prints one JSON object: the frames it built, the values it parsed."""

import json
import sys

from pylxpweb.transports.dongle import DongleTransport  # type: ignore[import-not-found]

DONGLE, INVERTER = sys.argv[1], sys.argv[2]
transport = DongleTransport("127.0.0.1", DONGLE, INVERTER)
built = {
    "read_holding": transport._build_packet(0xC2, 3, 101, 2).hex(),
    "read_input": transport._build_packet(0xC2, 4, 40, 40).hex(),
    "write_single": transport._build_packet(0xC2, 6, 101, values=[80]).hex(),
    "write_multiple": transport._build_packet(0xC2, 16, 68, values=[1, 0, 5, 30]).hex(),
}
parsed = []
for line in sys.stdin.read().split():
    function, register, count, raw = line.split(":")
    values = transport._parse_response(
        bytes.fromhex(raw),
        expected_func=int(function),
        expected_register=int(register),
        expected_count=int(count),
        expected_tcp_func=0xC2,
    )
    parsed.append(list(values))
print(json.dumps({"built": built, "parsed": parsed}))
