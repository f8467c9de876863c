"""The README's first command with a config after the demo: the account's sync lands in a
database of its own, reads its whole range, and leaves the demo's database alone; what the
demo prints, the files it writes and the SQL the docs give are as README and docs/ show them."""

from __future__ import annotations

import datetime as dt
import json
import re
import runpy
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from moor7_emulator import Account, Emulator, Faults, ground_truth

from .conftest import ROOT
from .reliability_checks import STREAMS
from .test_containment import refused_url

SCRIPT = ROOT / "scripts" / "quickstart.py"
# scripts/quickstart.py with its data folder moved to argv[1], the rest of argv its own.
RUN_WITH_DATA_DIR = (
    "import runpy, sys; from pathlib import Path; "
    "script = runpy.run_path(sys.argv[1]); main = script['main']; "
    "main.__globals__['DATA_DIR'] = Path(sys.argv[2]); sys.exit(main(sys.argv[3:]))"
)


def quickstart(data_dir: Path, *args: str) -> str:
    """Runs the quick start with its data folder in `data_dir`; returns what it printed."""
    completed = subprocess.run(
        [sys.executable, "-c", RUN_WITH_DATA_DIR, str(SCRIPT), str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    printed = completed.stdout + completed.stderr
    assert "Traceback" not in printed, printed[printed.find("Traceback") :][:6000]
    return completed.stdout


README = (ROOT / "README.md").read_text(encoding="utf-8")
RECORDS_PAGE = (ROOT / "docs" / "design" / "records.md").read_text(encoding="utf-8")


def readme_sample_output() -> list[str]:
    """The lines of the quick start's output that README shows, from its first line."""
    block = README[README.index("```\n==> no config given") + 4 :]
    return block[: block.index("```")].splitlines()


def db_names(data_dir: Path) -> list[str]:
    return sorted(path.name for path in data_dir.glob("*.duckdb"))


def rows_per_stream(db: Path) -> dict:
    with duckdb.connect(str(db), read_only=True) as con:
        return {stream: con.sql(f"select count(*) from moor7.{stream}").fetchone()[0] for stream in STREAMS}


@pytest.mark.runs_long(45)
def test_a_config_after_the_demo_loads_its_full_range_into_its_own_database(tmp_path: Path) -> None:
    printed_demo = quickstart(tmp_path)
    (demo_name,) = db_names(tmp_path)
    demo_db = tmp_path / demo_name
    demo_rows = rows_per_stream(demo_db)
    assert f".quickstart/{demo_name}" in README, "README names the demo's database"
    check_the_demo_output_is_as_readme_shows_it(printed_demo, demo_db)
    check_the_sql_of_the_records_page_runs_on_the_demo(demo_db)

    account = Account(app_key="3000777", secret_key="second-account-secret-1")
    with Emulator(account, Faults()) as api:
        config = {
            "app_key": account.app_key,
            "secret_key": account.secret_key,
            "start_date": "2024-01-01",
            "end_date": "2024-01-31",
            "base_url": api.url,
        }
        config_path = tmp_path / "config.json"
        config_path.write_text(json.dumps(config))
        printed = quickstart(tmp_path, str(config_path))

    (own_name,) = set(db_names(tmp_path)) - {demo_name}
    own_db = tmp_path / own_name
    host = api.url.split("://", 1)[1]
    assert own_name == f"moor7_{account.app_key}-{re.sub(r'[^A-Za-z0-9]+', '-', host)}.duckdb", "README's naming rule"
    assert f"into {own_db}" in printed, "the quick start says where the account's data went"
    truth = ground_truth(account, "2024-01-01", "2024-01-31")
    assert rows_per_stream(own_db) == {stream: len(truth[stream]) for stream in STREAMS}, "the whole range, not the demo's tail"
    assert rows_per_stream(demo_db) == demo_rows, "the demo's database is untouched"


def check_the_demo_output_is_as_readme_shows_it(printed: str, demo_db: Path) -> None:
    """Each line README shows is a line the demo prints, in the same order, up to the figures
    that change with the date and the machine (rows, dates, paths, the port)."""
    lines = printed.splitlines()
    shown = [line for line in readme_sample_output() if line not in ("...", "")]
    at = 0
    for line in shown:
        words = re.split(r"\d[\d:-]*|/path/to/\S*?(?=[\s',]|$)|…", line)
        fixed = [word for word in words if word.strip(" .,'")]
        pattern = ".*?".join(re.escape(word) for word in fixed) + ".*"
        found = next((i for i in range(at, len(lines)) if re.fullmatch(pattern, lines[i])), None)
        assert found is not None, f"README shows {line!r}; the demo printed:\n{printed}"
        at = found + 1
    # The demo says the range it reads (its rule against README: test_docs.py).
    start = runpy.run_path(str(SCRIPT))["demo_start"](dt.datetime.now(dt.UTC).date())
    assert f"from {start.isoformat()} to now" in printed
    assert f"into {demo_db}" in printed


def check_the_sql_of_the_records_page_runs_on_the_demo(demo_db: Path) -> None:
    """The query docs/design/records.md gives, with PyAirbyte's column names as it says."""
    block = RECORDS_PAGE[RECORDS_PAGE.index("```sql\n") + 7 :]
    sql = block[: block.index("```")]
    with duckdb.connect(str(demo_db), read_only=True) as con:
        rows = con.sql(sql).fetchall()
    assert rows
    assert all(label for _, _, label, _ in rows), "every row gets the column's label"


@pytest.mark.runs_long(11)
@pytest.mark.parametrize("case", ["wrong secret", "closed port"])
def test_the_quick_start_with_a_bad_config_says_why_in_one_line_without_a_traceback(tmp_path: Path, case: str) -> None:
    with Emulator(Account(), Faults()) as api:
        config = {
            "app_key": Account().app_key,
            "secret_key": "not-the-secret-key-0000" if case == "wrong secret" else Account().secret_key,
            "start_date": "2024-01-01",
            "end_date": "2024-01-02",
            "base_url": api.url if case == "wrong secret" else refused_url(),
        }
        config_path = tmp_path / "config.json"
        config_path.write_text(json.dumps(config))
        completed = subprocess.run(
            [sys.executable, "-c", RUN_WITH_DATA_DIR, str(SCRIPT), str(tmp_path), str(config_path)],
            capture_output=True,
            text=True,
            timeout=600,
        )
    output = completed.stdout + completed.stderr
    (stopped,) = [line for line in completed.stderr.splitlines() if line.startswith("==> the sync stopped: ")]
    assert completed.returncode == 1
    assert "Traceback" not in output
    assert 'File "' not in output
    assert ("'secret_key'" if case == "wrong secret" else "refused the connection") in stopped, stopped
    assert config["secret_key"] not in output
