"""Run with pylxpweb's own interpreter (bench/.venv-pylxpweb; run alone, it moves there) by
tests/e2e/test_pylxpweb.py: build the dongle frames pylxpweb sends for a few requests, and parse the reply
frames given as hex on stdin (one per line, with the request they answer: `function:register:count:hex`)
the way pylxpweb checks them. Prints one JSON object: the frames it built, the values it parsed.

    .venv/bin/python -m bench.pylxpweb_frames BA12345600 4512345600 < replies.txt
"""

import argparse
import json
import sys

try:  # run by path under pylxpweb's interpreter, this folder is first on sys.path
    from pylxpweb_env import in_pylxpwebs_environment  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # run as `python -m bench....`
    from bench.pylxpweb_env import in_pylxpwebs_environment


def frames(dongle: str, inverter: str, replies: str) -> None:
    from pylxpweb.transports.dongle import DongleTransport  # type: ignore[import-not-found]

    transport = DongleTransport("127.0.0.1", dongle, inverter)
    built = {
        "read_holding": transport._build_packet(0xC2, 3, 101, 2).hex(),
        "read_input": transport._build_packet(0xC2, 4, 40, 40).hex(),
        "write_single": transport._build_packet(0xC2, 6, 101, values=[80]).hex(),
        "write_multiple": transport._build_packet(0xC2, 16, 68, values=[1, 0, 5, 30]).hex(),
    }
    parsed = []
    for line in replies.split():
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


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pylxpweb_frames", description=__doc__)
    parser.add_argument("dongle", help="the dongle's serial")
    parser.add_argument("inverter", help="the inverter's serial")
    args = parser.parse_args()
    in_pylxpwebs_environment()
    frames(args.dongle, args.inverter, sys.stdin.read())


if __name__ == "__main__":
    main()
