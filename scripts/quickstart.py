#!/usr/bin/env python3
"""Sync 7moor IM reports into a local DuckDB database with PyAirbyte.

Without a config, the embedded default runs: the project's 7moor emulator starts on a free
local port and the sync covers its account from the first day of the month three months back
up to now, into `.quickstart/moor7_demo.duckdb`. With a config file (an argument, or
MOOR7_CONFIG), the sync reads that real account into a database of its own, named after its
app key and host (`moor7_<app key>-<host>.duckdb`), so that neither the demo's rows nor its
saved state (PyAirbyte keeps it in the database) mix with the account's, and a second account
gets a second database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from source_moor7_im.settings import report_table, spec

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / ".quickstart"
DEMO_DB_NAME = "moor7_demo.duckdb"
# The file of an account's database: its app key and API host (with the port), each run of
# characters other than letters and digits written as "-".
ACCOUNT_DB_PATTERN = "moor7_<app key>-<host>.duckdb"
# The demo syncs from the first day of the month this many months back.
DEMO_MONTHS_BACK = 3


def account_db_name(config: Mapping[str, Any]) -> str:
    """ACCOUNT_DB_PATTERN for this config: one database per account, never the demo's."""
    host = urlsplit(str(config.get("base_url") or spec()["properties"]["base_url"]["default"])).netloc or "7moor"
    words = re.sub(r"[^A-Za-z0-9]+", "-", f"{config.get('app_key', 'account')}_{host}").strip("-")
    return f"moor7_{words}.duckdb"


def demo_start(today: dt.date) -> dt.date:
    """The first day of the month DEMO_MONTHS_BACK months before `today`'s month."""
    month = today.year * 12 + today.month - 1 - DEMO_MONTHS_BACK
    return dt.date(month // 12, month % 12 + 1, 1)


def _emulator_config(base_url: str, account: Any) -> dict[str, Any]:
    first = demo_start(dt.datetime.now(dt.UTC).date())
    return {
        "app_key": account.app_key,
        "secret_key": account.secret_key,
        "start_date": first.isoformat(),
        "base_url": base_url,
        "dimension": "day",
    }


def _connector_message(error: Exception) -> str:
    """The connector's failure message from a PyAirbyte error: its connection status or its
    last error trace, else PyAirbyte's own one-line guidance."""
    for attribute in ("original_exception",):
        if getattr(error, attribute, None) is not None:
            error = getattr(error, attribute)
    context = getattr(error, "context", None) or {}
    for key in ("message", "failure_reason", "error_message"):
        if isinstance(context.get(key), str) and context[key]:
            return context[key][:4000]
    for line in reversed(str(getattr(error, "log_text", "") or "").splitlines()):
        if '"type":"TRACE"' in line.replace(" ", "") or '"CONNECTION_STATUS"' in line:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            found = (message.get("trace", {}).get("error") or message.get("connectionStatus") or {}).get("message")
            if found:
                return str(found)[:4000]
    return (getattr(error, "guidance", None) or getattr(error, "message", None) or type(error).__name__)[:4000]


def main(argv: list) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "config", nargs="?", default=os.environ.get("MOOR7_CONFIG"), help="connector config JSON (default: the emulator)"
    )
    parser.add_argument(
        "--db",
        help=f"DuckDB file (default: .quickstart/{DEMO_DB_NAME} for the demo, .quickstart/{ACCOUNT_DB_PATTERN} for a config)",
    )
    args = parser.parse_args(argv)

    # The connector runs as a local executable: PyAirbyte needs neither its online registry
    # nor telemetry, and this machine may have no route to them.
    os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # PyAirbyte's cloud dependencies warn about Python versions on import; not this sync's concern.
    warnings.filterwarnings("ignore", category=FutureWarning)
    import airbyte as ab
    from airbyte.caches import DuckDBCache
    from airbyte.exceptions import PyAirbyteError

    emulator = None
    if args.config:
        try:
            config = json.loads(Path(args.config).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            print(f"==> cannot read the config file {args.config}: {error}", file=sys.stderr)
            return 1
        db_path = Path(args.db or DATA_DIR / account_db_name(config)).resolve()
        print(f"==> syncing the 7moor account in {args.config} into {db_path}")
    else:
        sys.path.insert(0, str(ROOT / "integration_tests"))
        from moor7_emulator import Account, Emulator, Faults

        emulator = Emulator(Account(), Faults()).start()
        config = _emulator_config(emulator.url, emulator.account)
        db_path = Path(args.db or DATA_DIR / DEMO_DB_NAME).resolve()
        print(
            f"==> no config given: syncing the local 7moor emulator at {emulator.url}, from {config['start_date']} "
            f"to now, into {db_path}"
        )

    executable = shutil.which("source-moor7-im", path=str(Path(sys.executable).parent)) or "source-moor7-im"
    db_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        source = ab.get_source("source-moor7-im", local_executable=executable, config=config)
        source.check()
        source.select_all_streams()
        cache = DuckDBCache(db_path=str(db_path), schema_name="moor7")
        result = source.read(cache=cache)  # PyAirbyte prints its own progress while it runs
    except PyAirbyteError as error:
        # The connector's own message says what is wrong; PyAirbyte's traceback would bury it.
        print(f"\n==> the sync stopped: {_connector_message(error)}", file=sys.stderr)
        return 1
    finally:
        if emulator is not None:
            emulator.stop()

    print(f"\n==> loaded into {db_path}")
    print(f"{'stream':<16}{'rows':>8}  period covered")
    for name in report_table():
        table = f"moor7.{name}"
        rows, first, last = (
            cache.get_sql_engine()
            .connect()
            .exec_driver_sql(f"select count(*), min(period_start), max(period_start) from {table}")
            .one()
        )
        print(f"{name:<16}{rows:>8}  {first} .. {last}")
    # report_columns names every report column: join it to turn an account's UUID column into its label
    columns, custom = (
        cache.get_sql_engine()
        .connect()
        .exec_driver_sql(
            "select count(*), count(*) filter (where regexp_matches(prop, '^[0-9a-f]{8}-')) from moor7.report_columns"
        )
        .one()
    )
    print(
        f"{'report_columns':<16}{columns:>8}  header columns of the three reports, {custom} of them the account's own (UUID props)"
    )
    print(f"\nDatabase: {db_path}")
    print(
        'Query it: .venv/bin/python -c "import duckdb; '
        f"con = duckdb.connect('{db_path}', read_only=True); "
        f"print(con.sql('select * from moor7.{next(iter(report_table()))} order by period_start desc limit 5'))\""
    )
    return 0 if result.processed_records or emulator is None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
