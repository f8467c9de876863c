"""The report_columns stream: every header column of each report, as a warehouse user
joins it to turn the account's UUID columns into their labels."""

from __future__ import annotations

import jsonschema

from moor7_emulator import Emulator
from moor7_emulator import account as model

from .conftest import Cli, emulator_config


def test_report_columns_lists_every_header_column_of_each_report(cli: Cli, emulator: Emulator) -> None:
    config = emulator_config(emulator, start_date="2024-07-01", end_date="2024-07-31")
    (catalog,) = cli.run("discover", config).of_type("CATALOG")
    (stream,) = [s for s in catalog["catalog"]["streams"] if s["name"] == "report_columns"]
    assert stream["supported_sync_modes"] == ["full_refresh"]
    assert stream["source_defined_primary_key"] == [["report"], ["prop"]]
    emulator.clear_log()
    configured = {"streams": [{"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}]}
    result = cli.run("read", config, configured)
    assert result.exit_code == 0, result.errors()
    assert not result.errors(), result.errors()

    account = emulator.account
    headers = {
        "session_time": model.session_header(account),
        "agent_workload": model.workload_header(account),
        "agent_quality": model.quality_header(account),
    }
    expected = [
        {
            "report": report,
            "prop": column["prop"],
            "label": column["label"],
            "is_custom": column.get("isCustomHeader", column.get("customHeader")),
            "show": column["show"],
            "width": int(column["width"]),
            "position": position,
        }
        for report, header in headers.items()
        for position, column in enumerate(header, start=1)
    ]
    key = lambda r: (r["report"], r["position"])  # noqa: E731
    assert sorted(result.records("report_columns"), key=key) == sorted(expected, key=key)
    assert {"200"} == {str(c["width"]) for c in headers["session_time"] if isinstance(c["width"], str)}, (
        "the emulator sends one string width"
    )
    assert any("customHeader" in c for c in headers["agent_quality"]), "and the other spelling of the flag"
    # one one-day request per report (the last day of the range)
    assert sorted((r.stream, r.window) for r in emulator.log if r.stream) == sorted(
        (report, ("2024-07-31 00:00:00", "2024-07-31 23:59:59")) for report in headers
    )
    validator = jsonschema.Draft7Validator(stream["json_schema"])
    assert all(not list(validator.iter_errors(r)) for r in result.records("report_columns"))
