#!/usr/bin/env python3
"""Generate `source_moor7_im/schemas/*.json` (the package's own files; the top-level
`schemas` is a link to them) from the report headers on the vendor's API page.

    python scripts/generate_schemas.py            # rewrite source_moor7_im/schemas/
    python scripts/generate_schemas.py --check    # exit 1 if they differ

The vendor page (`unit_tests/resource/vendor/im-report-api.zh.txt`, as handed over; kept with
the tests' recorded material, since it ships in no package) shows one sample
response per report; its `data.header` lists each column's `prop` and Chinese `label`.
Columns whose prop is a UUID are per-account (custom agent states, satisfaction levels):
they are left out here and added from the live header at discover.

Types follow the labels: 7moor reports counts as integers, and averages (平均), rates (率)
and ratios (比) as numbers; `time` and `agentId` are strings. Primary-key fields
(`agentId`, `dimension`, `period_start`) are never null.

`report_columns.json` (one record per header column of each report) is written from
REPORT_COLUMNS_SCHEMA below, not from the vendor page.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from source_moor7_im.settings import report_table

ROOT = Path(__file__).resolve().parent.parent
VENDOR_PAGE = ROOT / "unit_tests" / "resource" / "vendor" / "im-report-api.zh.txt"
SCHEMAS_DIR = ROOT / "source_moor7_im" / "schemas"

UUID_PROP = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
REPORTS = report_table()
STREAM_BY_PATH = {report["path"]: name for name, report in REPORTS.items()}
STRING_PROPS = {"time", "agentId"}
NON_NULL_PROPS = {"agentId"}  # part of the primary key: a row without it stops the stream
NUMBER_LABEL_MARKERS = ("平均", "率", "比")

# English glosses of the documented columns, for warehouse users who do not read Chinese.
GLOSS = {
    "time": "Bucket label as 7moor gives it (e.g. 2021-08-05 for a day).",
    "agentId": "Agent display name and number, e.g. 在线客服[8029] (not the id agentList takes).",
    "initCount": "Sessions in total.",
    "validCount": "Valid sessions.",
    "robotCount": "Sessions served by the bot.",
    "robotOnlyCount": "Sessions handled by the bot alone.",
    "robotManualSucCount": "Sessions transferred from the bot to a human.",
    "manualCount": "Sessions served by a human agent.",
    "queueUpCount": "Sessions that queued.",
    "queueGiveUpCount": "Sessions abandoned in the queue.",
    "lossCount": "Lost sessions.",
    "finishCount": "Completed sessions.",
    "inviteCount": "Sessions started by the agent.",
    "transferCount": "Transferred sessions.",
    "leavingCount": "Messages left (offline).",
    "noVisitorMsgCount": "Sessions without a visitor message.",
    "noReplyCount": "Sessions without a reply.",
    "msgCount": "Messages in total.",
    "agentSendMsgCount": "Messages sent by agents.",
    "visitorSendMsgCount": "Messages sent by visitors.",
    "evaluateCount": "Sessions rated by the visitor.",
    "sessionTimeLen": "Average session duration, seconds.",
    "pushCsrCount": "Rating invitations sent.",
    "assignCount": "Sessions assigned.",
    "invalidCount": "Valid sessions (the vendor names this column invalidCount).",
    "receiveLeavingCount": "Offline messages received.",
    "delLeavingCount": "Offline messages handled.",
    "transferOutCount": "Sessions transferred out.",
    "transferInCount": "Sessions transferred in.",
    "replyCount": "Sessions answered.",
    "loginTotalTimeLength": "Logged-in time, seconds (lifted from everyTimeLength).",
    "firstResponseNotIncludeLen": "First-response time in total, seconds.",
    "sessionNotIncludeTimeLen": "Session time in total, seconds.",
    "avgFirstResponseNotIncludeLen": "Average first-response time, seconds.",
    "avgSessionNotIncludeTimeLen": "Average session time, seconds.",
    "avgMsgResponseLen": "Average response time, seconds.",
    "agentPushCsrCount": "Rating invitations sent by the agent.",
    "pushCsrRate": "Rating invitation rate, percent.",
    "evaluateRate": "Rating rate, percent.",
    "quesAndAnswerRate": "Answer-to-question ratio, percent.",
    "twentyFourHourSolutionRate": "Solved at first contact within 24 h, percent.",
    "fortyEightHourSolutionRate": "Solved at first contact within 48 h, percent.",
}

REPORT_DATE = {
    "type": "string",
    "format": "date",
    "title": "Report date",
    "description": "The account-local day the row belongs to (YYYY-MM-DD), which survives destinations that store instants in UTC or drop the offset.",
}
PERIOD_START = {
    "type": "string",
    "format": "date-time",
    "airbyte_type": "timestamp_with_timezone",
    "title": "Period start",
    "description": "Start of the period the row covers, in the account's local time with its UTC offset.",
}
# The fields the connector adds to a row, by the stream table's `bucket` (records.py).
BUCKET_PROPERTIES: dict[str, dict[str, Any]] = {
    "dimension": {
        "dimension": {
            "type": "string",
            "title": "Dimension",
            "description": "Bucket size the report was requested with (half_hour, hour, day, month or year).",
        },
        "period_start": {
            **PERIOD_START,
            "description": "Start of the bucket, parsed from time, in the account's local time with its UTC offset.",
        },
        "report_date": {
            **REPORT_DATE,
            "description": "The account-local date of the bucket's start (YYYY-MM-DD; the first day of a month or year bucket).",
        },
    },
    "day": {
        "period_start": {**PERIOD_START, "description": "Start of the local day the row covers, with the account's UTC offset."},
        "report_date": REPORT_DATE,
        "agent_name": {
            "type": ["null", "string"],
            "title": "Agent name",
            "description": "The name part of agentId, trimmed; null when agentId has no [number].",
        },
        "agent_number": {
            "type": ["null", "string"],
            "title": "Agent number",
            "description": "The number in brackets in agentId, trimmed; null when there is none.",
        },
    },
}
# The stream table's `nested_fields`: kept as returned, their keys also lifted to columns.
NESTED_DESCRIPTIONS = {
    "everyTimeLength": "Time per agent state in seconds, keyed by state prop (sparse), as returned; its keys are also top-level columns.",
    "satisfaction": "Share of each satisfaction level in percent, keyed by level prop (sparse), as returned; its keys are also top-level columns.",
}


REPORT_COLUMNS_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": True,
    "properties": {
        "report": {
            "type": "string",
            "title": "Report",
            "description": f"The stream whose report the column belongs to: {', '.join(REPORTS)}.",
        },
        "prop": {
            "type": "string",
            "title": "Column",
            "description": "The column's key (header prop): a column name of the report's stream; a UUID for the account's own columns.",
        },
        "label": {
            "type": ["null", "string"],
            "title": "Label",
            "description": "The column's name in the 7moor console (Chinese).",
        },
        "is_custom": {
            "type": ["null", "boolean"],
            "title": "Custom column",
            "description": "The header's custom-column flag (isCustomHeader, or customHeader in the quality report).",
        },
        "show": {
            "type": ["null", "boolean"],
            "title": "Shown",
            "description": "Whether the 7moor console shows the column by default.",
        },
        "width": {
            "type": ["null", "integer"],
            "title": "Width",
            "description": "The console's column width in pixels (sent as a string or a number).",
        },
        "position": {"type": "integer", "title": "Position", "description": "The column's place in the report header, from 1."},
    },
}


def sample_responses(page: str) -> dict[str, dict[str, Any]]:
    """The vendor's sample response per stream, found by `requestInfo.url`."""
    decoder = json.JSONDecoder()
    samples: dict[str, dict[str, Any]] = {}
    for match in re.finditer(r'\{\s*"success"', page):
        document, _ = decoder.raw_decode(page, match.start())
        stream = STREAM_BY_PATH.get(document.get("requestInfo", {}).get("url"))
        if stream:
            samples[stream] = document
    missing = set(STREAM_BY_PATH.values()) - set(samples)
    if missing:
        raise SystemExit(f"{VENDOR_PAGE}: no sample response found for {sorted(missing)}")
    return samples


def column_type(prop: str, label: str) -> str:
    if prop in STRING_PROPS:
        return "string"
    if any(marker in label for marker in NUMBER_LABEL_MARKERS):
        return "number"
    return "integer"


def stream_schema(stream: str, header: list[dict[str, Any]]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for column in header:
        prop, label = column["prop"], column["label"]
        if UUID_PROP.match(prop):
            continue
        properties[prop] = {
            "type": column_type(prop, label) if prop in NON_NULL_PROPS else ["null", column_type(prop, label)],
            "title": label,
            "description": GLOSS.get(prop, label),
        }
    report = REPORTS[stream]
    properties.update(BUCKET_PROPERTIES[report["bucket"]])
    for nested in report["nested_fields"]:
        properties[nested] = {
            "type": ["null", "object"],
            "title": nested,
            "description": NESTED_DESCRIPTIONS[nested],
            "additionalProperties": {"type": ["null", "number"]},
        }
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": True,
        "properties": properties,
    }


def render_all() -> dict[str, str]:
    samples = sample_responses(VENDOR_PAGE.read_text(encoding="utf-8"))
    schemas = {stream: stream_schema(stream, samples[stream]["data"]["header"]) for stream in STREAM_BY_PATH.values()}
    schemas["report_columns"] = REPORT_COLUMNS_SCHEMA
    return {f"{stream}.json": json.dumps(schema, ensure_ascii=False, indent=2) + "\n" for stream, schema in schemas.items()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with source_moor7_im/schemas/ instead of writing")
    args = parser.parse_args(argv)
    rendered = render_all()
    if args.check:
        stale = [
            name
            for name, text in rendered.items()
            if not (SCHEMAS_DIR / name).exists() or (SCHEMAS_DIR / name).read_text(encoding="utf-8") != text
        ]
        if stale:
            print(
                f"source_moor7_im/schemas/ is out of date: {', '.join(stale)}; run python scripts/generate_schemas.py",
                file=sys.stderr,
            )
            return 1
        print("source_moor7_im/schemas/ matches the vendor headers")
        return 0
    SCHEMAS_DIR.mkdir(exist_ok=True)
    for name, text in rendered.items():
        (SCHEMAS_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote source_moor7_im/schemas/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
