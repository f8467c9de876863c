"""Benchmark: the connector's `read` against the local 7moor emulator.

    .venv/bin/python scripts/bench.py            # the full table (about 90 seconds)
    .venv/bin/python scripts/bench.py --quick    # smaller ranges, for a smoke run

Prints one table:
  1. a one-year backfill of all three streams with 50 ms latency per request: requests,
     wall time, and wall time over the floor `requests x latency / concurrency`;
  2. CPU throughput on large responses: records per CPU second of the connector's `read`,
     beside a plain `requests` + `json` loop that signs, fetches and prints the same record
     messages, one request at a time;
  3. peak memory (RSS) of a one-year and a three-year backfill;
  4. start-up: the CPU time of `spec` beside that of `import airbyte_cdk` alone.

Each measurement runs the connector (or the plain loop) in a child process of its own, so
that its CPU time and peak RSS are that process's alone (`os.wait4`); the emulator runs in
this process. Figures are ratios first: the machine may be shared and noisy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import isodate  # type: ignore[import-untyped]  # the CDK steps its windows with it

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "integration_tests"))

from moor7_emulator import Account, Emulator, Faults  # noqa: E402
from moor7_emulator.server import PATHS as EMULATOR_PATHS  # noqa: E402
from source_moor7_im.calendar import SESSION_WINDOW_STEPS  # noqa: E402
from source_moor7_im.settings import report_table  # noqa: E402

REPORTS = report_table()
STREAMS = tuple(REPORTS)
# One report of each bucket kind (the stream table's `bucket`) for the CPU cases.
SESSION = next(name for name, report in REPORTS.items() if report["bucket"] == "dimension")
DAILY = next(name for name, report in REPORTS.items() if report["bucket"] == "day")
# The connector's command, reporting its own peak RSS on exit. VmHWM is the peak of this
# process's memory alone; `ru_maxrss` (from getrusage or wait4) is not usable here, as on
# Linux it keeps the peak of the forked copy of this benchmark process from before exec.
PEAK_RSS_REPORT = """
import atexit, sys
def _report_peak_rss():
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    sys.stderr.write(f"bench-peak-rss-kib {peak}\\n")
atexit.register(_report_peak_rss)
"""
CONNECTOR = [sys.executable, "-c", PEAK_RSS_REPORT + "from source_moor7_im.run import run\nrun()"]


@dataclass
class Run:
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    records: int
    requests: int
    answered: int  # requests answered with a report (the rest were retried)
    first_request_to_last_answer: float


def _catalog(streams: Sequence[str]) -> dict[str, Any]:
    """The committed integration_tests/configured_catalog.json, limited to `streams`."""
    catalog = json.loads((ROOT / "integration_tests" / "configured_catalog.json").read_text(encoding="utf-8"))
    return {"streams": [s for s in catalog["streams"] if s["stream"]["name"] in streams]}


def _run_child(args: list[str], api: Emulator) -> Run:
    """Run a child to completion, counting the records it prints; its own CPU and peak RSS."""
    api.clear_log()
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tempfile.gettempdir())
    records = 0
    errors: list[bytes] = []
    stderr_lines: list[bytes] = []
    reader = threading.Thread(target=lambda: stderr_lines.extend(process.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(b'{"type":"RECORD"') or line.startswith(b'{"type": "RECORD"'):
            records += 1
        elif b'"failure_type"' in line:
            errors.append(line)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    reader.join()
    if process.returncode != 0 or errors:
        detail = errors[:1] or b"".join(stderr_lines)[-2000:].decode(errors="replace")
        raise SystemExit(f"{args[-1]} failed ({process.returncode}): {detail}")
    log = list(api.log)
    served = [entry for entry in log if entry.outcome == "ok"]
    peaks = [int(line.split()[1]) for line in stderr_lines if line.startswith(b"bench-peak-rss-kib ")]
    return Run(
        wall_seconds=wall,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mib=peaks[-1] / 1024 if peaks else float("nan"),
        records=records,
        requests=len(log),
        answered=len(served),
        first_request_to_last_answer=0.0 if not served else max(e.answered_at for e in served) - min(e.received_at for e in log),
    )


def _write(directory: Path, name: str, value: Any) -> str:
    path = directory / name
    path.write_text(json.dumps(value))
    return str(path)


def connector_read(api: Emulator, directory: Path, start: str, end: str, streams: Sequence[str], **options: Any) -> Run:
    config = {
        "app_key": api.account.app_key,
        "secret_key": api.account.secret_key,
        "start_date": start,
        "end_date": end,
        "base_url": api.url,
        **options,
    }
    args = [
        *CONNECTOR,
        "read",
        "--config",
        _write(directory, "config.json", config),
        "--catalog",
        _write(directory, "catalog.json", _catalog(streams)),
    ]
    return _run_child(args, api)


# --- the plain loop: what the connector does, with nothing but requests and json ---------
PLAIN_LOOP = r"""
import base64, datetime as dt, hashlib, hmac, json, secrets, sys, time
import requests

base_url, app_key, secret_key, stream, path, dimension, windows = json.loads(sys.argv[1])
session = requests.Session()
write = sys.stdout.write
for start, end in windows:
    timestamp, nonce = str(int(time.time())), str(100000 + secrets.randbelow(900000))
    digest = hmac.new(secret_key.encode(), f"{app_key}{timestamp}{nonce}".encode(), hashlib.sha256).digest()
    headers = {"m7-appkey": app_key, "m7-timestamp": timestamp, "m7-nonce": nonce,
               "m7-sign": base64.b64encode(digest).decode(), "Content-Type": "application/json"}
    body = {"createTime": [start, end]}
    if dimension:
        body["dimension"] = dimension
    envelope = session.post(base_url + path, data=json.dumps(body), headers=headers, timeout=180).json()
    assert envelope["success"] is True and str(envelope["code"]) == "200", envelope
    emitted_at = int(time.time() * 1000)
    day = start[:10] + "T00:00:00+08:00"
    for row in envelope["data"]["list"]:
        if dimension:  # the session report: the bucket's start from its label
            label = row["time"]
            row["dimension"] = dimension
            row["period_start"] = (label[:10] + "T" + (label[11:16] if len(label) > 10 else "00:00") + ":00+08:00")
        else:  # the agent reports: the day, the agent's name and number, nested columns lifted
            row["period_start"] = day
            agent = row["agentId"]
            if agent.endswith("]") and "[" in agent:
                row["agent_name"], row["agent_number"] = agent[:-1].split("[", 1)
            for nested in ("everyTimeLength", "satisfaction"):
                if isinstance(row.get(nested), dict):
                    row.update(row[nested])
        write(json.dumps({"type": "RECORD", "record": {"stream": stream, "data": row, "emitted_at": emitted_at}}, ensure_ascii=False) + "\n")
"""

PATHS = {stream: path for path, stream in EMULATOR_PATHS.items()}


def plain_loop(api: Emulator, stream: str, windows: list[list[str]], dimension: str | None) -> Run:
    arguments = json.dumps([api.url, api.account.app_key, api.account.secret_key, stream, PATHS[stream], dimension, windows])
    return _run_child([sys.executable, "-c", PLAIN_LOOP, arguments], api)


def day_windows(start: str, days: int) -> list[list[str]]:
    first = dt.date.fromisoformat(start)
    return [[f"{first + dt.timedelta(d)} 00:00:00", f"{first + dt.timedelta(d)} 23:59:59"] for d in range(days)]


def session_windows(start: str, end: str, dimension: str) -> list[list[str]]:
    """The session report's windows as the connector cuts them: its step for the dimension
    from `start`, each window ending a second before the next begins."""
    step = isodate.parse_duration(SESSION_WINDOW_STEPS[dimension])
    moment, last = dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end).replace(hour=23, minute=59, second=59)
    windows = []
    while moment <= last:
        following = moment + step
        windows.append([str(moment), str(min(following - dt.timedelta(seconds=1), last))])
        moment = following
    return windows


def child_cpu_seconds(args: list[str]) -> float:
    """The CPU time of one child process running `args` to its end."""
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(process.pid, 0)
    return usage.ru_utime + usage.ru_stime


def startup_cpu_seconds() -> float:
    """CPU the connector spends starting up (imports, manifest) and answering `spec`."""
    return child_cpu_seconds([*CONNECTOR, "spec"])


# --- the table ---------------------------------------------------------------------------
def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller ranges (a smoke run, not the reported figures)")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args(argv)

    year = ("2023-01-01", "2023-12-31") if not args.quick else ("2023-01-01", "2023-01-31")
    three_years = ("2021-01-01", "2023-12-31") if not args.quick else ("2022-11-01", "2023-01-31")
    cpu_days = 180 if not args.quick else 10
    latency = args.latency_ms / 1000
    concurrency = 4  # the connector's default max_concurrent_requests
    rows: list[list[str]] = []
    directory = Path(tempfile.mkdtemp(prefix="moor7-bench-"))

    # 1. A backfill with latency: how close to the floor the concurrency gets.
    with Emulator(Account(), Faults(latency_seconds=latency)) as api:
        backfill = connector_read(api, directory, *year, STREAMS)
    floor = backfill.requests * latency / concurrency
    rows.append(
        [
            f"backfill {year[0]}..{year[1]}, 3 streams, {args.latency_ms:g} ms latency, concurrency {concurrency}",
            f"wall / floor = {backfill.wall_seconds / floor:.2f}",
            f"{backfill.requests} requests ({backfill.requests - backfill.answered} retried), floor {floor:.1f} s, wall {backfill.wall_seconds:.1f} s "
            f"(first request to last answer {backfill.first_request_to_last_answer:.1f} s: "
            f"{backfill.first_request_to_last_answer / floor:.2f} x floor), {backfill.records} records",
        ]
    )

    # 2. CPU per record on large responses, beside the plain loop.
    startup_cpu = startup_cpu_seconds()
    with Emulator(Account(extra_agents=300), Faults()) as api:
        cases = [
            (
                f"{SESSION} half_hour, {three_years[0][:4]}..{three_years[1][:4]} in "
                f"{len(session_windows(*three_years, 'half_hour'))} requests",
                SESSION,
                session_windows(*three_years, "half_hour"),
                "half_hour",
                {"streams": [SESSION], "start": three_years[0], "end": three_years[1], "dimension": "half_hour"},
            ),
            (
                f"{DAILY}, 306 agents, {cpu_days} days",
                DAILY,
                day_windows(year[0], cpu_days),
                None,
                {
                    "streams": [DAILY],
                    "start": year[0],
                    "end": str(dt.date.fromisoformat(year[0]) + dt.timedelta(cpu_days - 1)),
                },
            ),
        ]
        for title, stream, windows, dimension, read in cases:
            options = {"dimension": read["dimension"]} if "dimension" in read else {}
            connector = connector_read(api, directory, str(read["start"]), str(read["end"]), list(read["streams"]), **options)
            plain = plain_loop(api, stream, windows, dimension)
            assert connector.records == plain.records, (connector.records, plain.records)
            connector_rate = connector.records / connector.cpu_seconds
            plain_rate = plain.records / plain.cpu_seconds
            after_startup = connector.cpu_seconds - startup_cpu
            # On a small run start-up is most of the CPU, and noise can make the difference
            # meaningless (even negative): then say so instead of printing a figure.
            steady = (
                f"{connector.records / after_startup:,.0f}/s = {connector.records / after_startup / plain_rate:.2f} x plain"
                if after_startup > 0.25 * connector.cpu_seconds
                else "not measurable, start-up dominates"
            )
            rows.append(
                [
                    f"CPU: {title}",
                    f"connector / plain loop = {connector_rate / plain_rate:.2f}",
                    f"{connector.records} records; connector {connector_rate:,.0f} records/CPU s "
                    f"({connector.cpu_seconds:.2f} CPU s, of which start-up about {startup_cpu:.2f}; after start-up {steady}), "
                    f"plain loop {plain_rate:,.0f} records/CPU s ({plain.cpu_seconds:.2f} CPU s)",
                ]
            )

    # 3. Peak memory: does it grow with the range?
    with Emulator(Account(), Faults()) as api:
        one = connector_read(api, directory, *year, STREAMS)
        three = connector_read(api, directory, *three_years, STREAMS)
    rows.append(
        [
            "peak RSS, backfill of 3 years vs 1 year",
            f"3 y / 1 y = {three.peak_rss_mib / one.peak_rss_mib:.2f}",
            f"1 year {one.peak_rss_mib:.0f} MiB ({one.requests} requests, {one.records} records), "
            f"3 years {three.peak_rss_mib:.0f} MiB ({three.requests} requests, {three.records} records)",
        ]
    )

    # 4. Start-up: `spec` beside importing the CDK alone, in alternating runs (medians).
    runs = 3 if args.quick else 9
    spec_cpu, cdk_cpu = [], []
    for _ in range(runs):
        spec_cpu.append(startup_cpu_seconds())
        cdk_cpu.append(child_cpu_seconds([sys.executable, "-c", "import airbyte_cdk"]))
    spec_median, cdk_median = statistics.median(spec_cpu), statistics.median(cdk_cpu)
    rows.append(
        [
            "start-up: spec beside `import airbyte_cdk`",
            f"spec - import = {spec_median - cdk_median:+.3f} CPU s",
            f"medians of {runs} alternating runs: spec {spec_median:.3f} CPU s, import airbyte_cdk {cdk_median:.3f} CPU s",
        ]
    )

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, Python {platform.python_version()}"
        f"{' (--quick: not the reported figures)' if args.quick else ''}"
    )
    width = max(len(r[0]) for r in rows)
    ratio_width = max(len(r[1]) for r in rows)
    for measure, ratio, detail in rows:
        print(f"{measure:<{width}}  {ratio:<{ratio_width}}  {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
