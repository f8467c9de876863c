"""7moor's replies, read once: what a reply is (its verdict), in one home.

7moor's error envelope is undocumented and the same service spells values two ways
(`"code": "200"` and `200`), so every reply is read here, once per attempt, into a `Reply`:
HTTP status, `success` and `code` compared as values whatever their JSON type, the message,
and a verdict. The manifest's error filters act on the verdict (`response.reply` in their
templates), so each verdict's action, failure type and message live there, and the words
that tell 7moor's refusals apart live here. A reply counts as a report only from a 2xx, in
the documented shape, with every row one new bucket (or one keyed agent) of the window asked
for. `ReportErrorHandler` is the hardening layer's bounded retries with these rules: the
filters see the reply as read, the parse is kept for the record extractor (one decode per
body), a refusal stops its own report only, and the same malformed success twice is no
transient fault.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction

from . import settings
from .calendar import bucket_start
from .hardening.messages import Refused, bounded_text, where
from .hardening.retries import BoundedRetries
from .records import BUCKET_LABEL, read_time_label

# The verdicts, in the order they are decided; the manifest's filters name them.
REPORT = "report"  # a 2xx success in the documented shape: data
MALFORMED = "malformed"  # a 2xx success that is not a report (shape, or a row outside its window)
TIMESTAMP = "timestamp"  # the request timestamp was refused
REPLAY = "replay"  # the sign + nonce was refused as seen before
CREDENTIALS = "credentials"  # the app key or signature was refused
REFUSED = "refused"  # the account may not read this report
RATE_LIMITED = "rate_limited"
BAD_REQUEST = "bad_request"  # the request body was refused
NOT_FOUND = "not_found"  # no such API under base_url
FAILED = "failed"  # anything else: 5xx, a gateway page, a truncated or non-JSON body, an unknown code

# What a refusal is about, by the words of its message: English words whole (so that "assign"
# is not "sign"), Chinese as 7moor writes it.
TIMESTAMP_WORDS = ("timestamp", "时间戳")
REPLAY_WORDS = ("nonce", "replay", "replayed", "重复")
CREDENTIAL_WORDS = ("sign", "signature", "appkey", "m7-appkey", "签名", "鉴权")
PERMISSION_WORDS = (
    "permission",
    "forbidden",
    "not authorized",
    "access denied",
    "权限",
    "无权",
    "未开通",
    "未授权",
    "拒绝访问",
    "禁止访问",
)
RATE_WORDS = ("too many", "rate limit", "频繁")
# A 4xx status of that meaning; an envelope code means the same, but for 404: the status says
# the path does not exist (base_url), a code 404 under HTTP 200 says nothing of the kind.
_BY_STATUS = {
    401: CREDENTIALS,
    403: REFUSED,
    429: RATE_LIMITED,
    400: BAD_REQUEST,
    405: BAD_REQUEST,
    413: BAD_REQUEST,
    422: BAD_REQUEST,
    404: NOT_FOUND,
}
_BOM = b"\xef\xbb\xbf"


def says(message: str, words: tuple[str, ...]) -> bool:
    """The message holds one of `words`: an English one as a whole word, a Chinese one anywhere."""
    return any(
        word in message if not word.isascii() else re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", message) for word in words
    )


@dataclass(frozen=True)
class Window:
    """The window a request asked for: its createTime bounds (account-local) and dimension."""

    start: dt.datetime
    end: dt.datetime
    dimension: str | None

    @classmethod
    def of(cls, request: requests.PreparedRequest | None) -> Window | None:
        try:
            body = json.loads(getattr(request, "body", None) or "")
            start, end = (dt.datetime.fromisoformat(bound) for bound in body["createTime"])
        except (ValueError, KeyError, TypeError):
            return None
        return cls(start, end, body.get("dimension"))

    @property
    def create_time(self) -> list[str]:
        return [bound.strftime("%Y-%m-%d %H:%M:%S") for bound in (self.start, self.end)]


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # the parsed JSON; None when the body is not JSON
    success: bool | None  # `success` as a value: true or "true"
    code: str | None  # `code` as text: 200 and "200" are both "200"
    message: str | None  # `message`, bounded
    verdict: str
    problem: str | None = None  # for MALFORMED: what keeps it from being a report
    content_type: str = ""

    def template(self) -> dict[str, Any]:
        """What the manifest's filters see as `response`: the reply as read, not the raw body."""
        form = "html" if "html" in self.content_type.lower() else "json" if self.body is not None else "other"
        return {
            "reply": self.verdict,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "problem": self.problem,
            "form": form,
        }


def as_flag(value: Any) -> bool | None:
    """`success` as a value: true and "true" are true, false and "false" false; else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def as_code(value: Any) -> str | None:
    """`code` as text: 200, 200.0 and "200" are all "200"."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return bounded_text(str(value).strip()) or None


def read_reply(
    response: requests.Response,
    needs: Sequence[str] = ("list",),
    label_field: str | None = None,
    key_field: str | None = None,
) -> Reply:
    """The reply to one attempt. `needs`: the `data` lists the caller reads (`list` for rows,
    `header` for columns); `label_field`: the row field that names its bucket, checked
    against the request's window; `key_field`: a field every row must hold as text."""
    content = response.content
    try:
        body = orjson.loads(content[len(_BOM) :] if content.startswith(_BOM) else content)
    except orjson.JSONDecodeError:
        body = None
    envelope: Mapping[str, Any] = body if isinstance(body, dict) else {}
    success, code = as_flag(envelope.get("success")), as_code(envelope.get("code"))
    message = bounded_text(envelope["message"]) if envelope.get("message") is not None else None
    status = response.status_code
    content_type = response.headers.get("Content-Type") or ""

    def reply(verdict: str, problem: str | None = None) -> Reply:
        return Reply(status, body, success, code, message, verdict, problem, content_type)

    if 200 <= status < 300 and success is True and code == "200":
        problem = report_problem(body, needs, label_field, key_field, Window.of(response.request))
        return reply(MALFORMED, problem) if problem else reply(REPORT)
    if 200 <= status < 300 and (success is True or code == "200"):
        # Half a success: the same reply twice is no transient fault (errors.py).
        return reply(MALFORMED, f"success is {bounded_text(envelope.get('success'), 30)} with code {code or 'none'}")
    if status >= 500 or 300 <= status < 400:
        return reply(FAILED)  # the server's trouble, whatever its message says
    text = (message or "").lower()
    by_status = _BY_STATUS.get(status)
    by_code = _BY_STATUS.get(int(code)) if code and code.isdigit() and code != "404" else None
    meanings = {by_status, by_code}
    if says(text, TIMESTAMP_WORDS):
        return reply(TIMESTAMP)
    if says(text, REPLAY_WORDS):
        return reply(REPLAY)
    if CREDENTIALS in meanings:
        return reply(CREDENTIALS)
    # A refusal that names the app key ("该appKey无权限") is about a report, not the key.
    if says(text, PERMISSION_WORDS):
        return reply(REFUSED)
    if says(text, CREDENTIAL_WORDS):
        return reply(CREDENTIALS)
    if REFUSED in meanings:
        return reply(REFUSED)
    if RATE_LIMITED in meanings or says(text, RATE_WORDS):
        return reply(RATE_LIMITED)
    return reply(by_status or by_code or FAILED)


def report_problem(
    body: Any, needs: Sequence[str], label_field: str | None, key_field: str | None, window: Window | None
) -> str | None:
    """What keeps a successful envelope from being a report; None for a report (an empty
    `data.list` is a real empty report)."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return "it has no data object" if data is None else f"its data is a {type(data).__name__}, not an object"
    for key in needs:
        found = data.get(key)
        if not isinstance(found, list):
            return f"data.{key} is missing" if found is None else f"data.{key} is a {type(found).__name__}, not a list"
    rows: list[Any] = data["list"] if "list" in needs else []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            return f"data.list[{index}] is {'null' if row is None else 'a ' + type(row).__name__}, not an object"
        if key_field and not (isinstance(row.get(key_field), str) and row[key_field].strip()):
            return f"data.list[{index}] has no {key_field} ({key_field}={bounded_text(row.get(key_field), 60)})"
    if label_field and window is not None:
        return _bucket_problem(rows, label_field, window)
    return None


# How fine a bucket label must be, by dimension (an index into records.LABEL_PARTS).
_LABEL_PRECISION = {"year": 0, "month": 1, "day": 2, "hour": 3, "half_hour": 4}


def _bucket_problem(rows: list[dict[str, Any]], label_field: str, window: Window) -> str | None:
    """A row that is not one bucket of the dimension asked for, inside the window asked for:
    a label that cannot be read, one coarser than the dimension or not on a bucket's start,
    one outside the window, or one that a row before it already had."""
    dimension = window.dimension or "hour"  # the API's default
    first = bucket_start(window.start, dimension)
    seen: set[dt.datetime] = set()
    for row in rows:
        label = row.get(label_field)
        read = read_time_label(label)
        quoted = f"{label_field}={bounded_text(label, 60)}"
        if read is None:
            return f"a row labelled {quoted} names no time the connector can read"
        moment, precision = read
        if precision < _LABEL_PRECISION[dimension] or bucket_start(moment, dimension) != moment:
            return f"a row labelled {quoted} is not a {dimension.replace('_', ' ')} bucket"
        if not first <= moment <= window.end:
            return f"a row labelled {quoted} lies outside the window asked for ({' to '.join(window.create_time)})"
        if moment in seen:
            return f"two rows are labelled {quoted}"
        seen.add(moment)
    return None


@dataclass
class ReportErrorHandler(BoundedRetries):
    """The manifest's error handler (requester_base): the bounded retries of the hardening
    layer, with 7moor's reply rules (module text)."""

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        super().__post_init__(parameters)
        # What the caller reads of a report (`reads`: its rows, or its header); a report of
        # buckets names each row's bucket in a label, a daily report keys its rows by the first
        # field of its primary key (the agent).
        self.reads: tuple[str, ...] = tuple(parameters.get("reads") or ("list",))
        rows = "list" in self.reads
        self.label_field = BUCKET_LABEL if rows and parameters.get("bucket") == "dimension" else None
        self.key_field = parameters["primary_key"][0][0] if rows and parameters.get("bucket") == "day" else None
        self._malformed: dict[tuple[str, str], str] = {}

    def window_of(self, request: Any) -> str | None:
        window = Window.of(request)
        return f"createTime {' to '.join(window.create_time)}" if window else None

    def interpret_reply(self, response: requests.Response) -> ErrorResolution:
        reply = read_reply(response, self.reads, self.label_field, self.key_field)
        report = report_of(response)
        view = {**reply.template(), "report": report, "quote": bounded_text(response.content[:4096].decode("utf-8", "replace"))}
        response.json = lambda **_: view  # type: ignore[method-assign]  # what the manifest's filters evaluate
        try:
            resolution = self.error_handler.interpret_response(response)
        finally:
            if reply.body is not None:  # the one parse, for the record extractor
                response.json = lambda **_: reply.body  # type: ignore[method-assign]
            else:
                del response.json  # requests' own, which raises
        if reply.verdict == REPORT and resolution.response_action == ResponseAction.SUCCESS:
            self.stop.answered()
        elif reply.verdict == REFUSED and resolution.response_action == ResponseAction.FAIL:
            raise Refused(f"{resolution.error_message} {where(self.stream_name, self.window_of(response.request))}", report or "")
        elif reply.verdict == MALFORMED:
            # The window's identity across its attempts (a retry may come back as another object).
            window = (urlsplit(getattr(response.request, "url", None) or "").path, str(self.window_of(response.request)))
            with self._lock:
                before, self._malformed[window] = self._malformed.get(window), reply.problem or ""
            if before == reply.problem:
                return replace(
                    resolution,
                    response_action=ResponseAction.FAIL,
                    failure_type=FailureType.system_error,
                    error_message=f"{resolution.error_message} It came back the same on the attempt before, so it is not "
                    "transient and is not retried again: report it to 7moor support with the window below.",
                )
        return resolution


def report_of(response: requests.Response) -> str | None:
    """The report a request asked for, by its path (the stream table's `path`)."""
    path = urlsplit(getattr(response.request, "url", None) or "").path
    return next((name for name, report in settings.report_table().items() if path.endswith(report["path"])), None)
