"""python -m moor7_emulator --port 8765 [--fault-rate 0.1] [--latency-ms 50] [--clock-offset 480]
[--body-bytes-per-second 60000] [--script huge_body,ok]"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

from .account import Account
from .server import FAULT_KINDS, SCRIPT_ONLY_FAULTS, Emulator, Faults


def main(argv: list) -> int:
    parser = argparse.ArgumentParser(prog="python -m moor7_emulator", description="A local 7moor IM report API.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback only by default)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--fault-rate", type=float, default=0.0, help="chance of an injected fault per request")
    parser.add_argument("--faults", default=",".join(FAULT_KINDS), help=f"fault kinds to draw from: {', '.join(FAULT_KINDS)}")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added latency per request")
    parser.add_argument("--clock-offset", type=float, default=0.0, help="seconds the server's clock is ahead")
    parser.add_argument(
        "--body-bytes-per-second", type=float, default=0.0, help="send every answer's body at this rate (a slow link)"
    )
    parser.add_argument(
        "--script",
        default="",
        help=f"faults for the first requests, in order ('ok' for none), e.g. huge_body,ok; also: {', '.join(SCRIPT_ONLY_FAULTS)}",
    )
    parser.add_argument("--error-style", choices=("http", "envelope"), default="http")
    parser.add_argument("--extra-agents", type=int, default=0, help="agents beyond the six named ones")
    parser.add_argument("--print-config", action="store_true", help="print a connector config for this server and exit")
    args = parser.parse_args(argv)

    account = Account(extra_agents=args.extra_agents)
    if args.print_config:
        print(
            json.dumps(
                {
                    "app_key": account.app_key,
                    "secret_key": account.secret_key,
                    "start_date": "2024-01-01",
                    "base_url": f"http://{args.host}:{args.port}",
                },
                indent=2,
            )
        )
        return 0
    faults = Faults(
        script=[kind for kind in args.script.split(",") if kind],
        body_bytes_per_second=args.body_bytes_per_second,
        rate=args.fault_rate,
        kinds=tuple(args.faults.split(",")),
        latency_seconds=args.latency_ms / 1000,
        clock_offset_seconds=args.clock_offset,
        error_style=args.error_style,
    )
    emulator = Emulator(account, faults, host=args.host, port=args.port)
    print(f"7moor emulator on {emulator.url} (app_key {account.app_key}); Ctrl-C stops it", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        emulator.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
