"""7moor's replies, read once per attempt into a verdict (`response.reply`) for the manifest's error filters to act on.

7moor's envelope is undocumented and spells values two ways (`"code": "200"` and `200`): docs/design/replies-and-errors.md."""

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple
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

PERMISSION_WORDS = (
    *("permission", "forbidden", "not authorized", "access denied"),
    *("权限", "无权", "未开通", "未授权", "拒绝访问", "禁止访问"),
)
# An envelope code means what its status means, but for 404: only a status 404 says that base_url has no such path.
_BY_STATUS = {401: "credentials", 403: "refused", 429: "rate_limited", 404: "not_found"}
_BY_STATUS |= dict.fromkeys((400, 405, 413, 422), "bad_request")
_LABEL_PRECISION = {"year": 0, "month": 1, "day": 2, "hour": 3, "half_hour": 4}  # `read_time_label`'s precision


def says(message: str, words: tuple[str, ...]) -> bool:
    """The message holds one of `words`: an English one as a whole word ("assign" is not "sign"), a Chinese one anywhere."""
    return any(re.search(rf"(?<![a-z]){re.escape(w)}(?![a-z])" if w.isascii() else re.escape(w), message) for w in words)


class Window(NamedTuple):
    """The window a request asked for: its createTime bounds (account-local) and dimension."""

    start: dt.datetime
    end: dt.datetime
    dimension: str | None

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M:%S} to {self.end:%Y-%m-%d %H:%M:%S}"


def window_asked(request: requests.PreparedRequest | None) -> Window | None:
    try:
        body = json.loads(getattr(request, "body", None) or "")
        start, end = (dt.datetime.fromisoformat(bound) for bound in body["createTime"])
        return Window(start, end, body.get("dimension"))
    except (ValueError, KeyError, TypeError):
        return None


class Reply(NamedTuple):
    verdict: str
    problem: str | None  # for `malformed`: what keeps it from being a report
    body: Any  # the parsed JSON; None when the body is not JSON
    view: dict[str, Any]  # what the manifest's filters see as `response`: the reply as read, not the raw body


def as_code(value: Any) -> str | None:
    """`code` as text: 200, 200.0 and "200" are all "200"."""
    if value is None or isinstance(value, bool):
        return None
    return bounded_text(str(int(value) if isinstance(value, float) and value.is_integer() else value).strip()) or None


def read_reply(
    response: requests.Response, needs: Sequence[str] = ("list",), label_field: str | None = None, key_field: str | None = None
) -> Reply:
    """`needs`: the `data` lists read; `label_field`: each row's bucket, within the window asked; `key_field`: each row's key."""
    try:
        body = orjson.loads(response.content.removeprefix(b"\xef\xbb\xbf"))  # after a byte order mark
    except orjson.JSONDecodeError:
        body = None
    envelope: Mapping[str, Any] = body if isinstance(body, dict) else {}
    status, success, code = response.status_code, envelope.get("success"), as_code(envelope.get("code"))
    succeeded = success is True or (isinstance(success, str) and success.strip().lower() == "true")  # true or "true"
    message = bounded_text(envelope["message"]) if envelope.get("message") is not None else None
    if 200 <= status < 300 and succeeded and code == "200":
        problem = problem_of(body, needs, label_field, key_field, window_asked(response.request))
        verdict = "malformed" if problem else "report"
    elif 200 <= status < 300 and (succeeded or code == "200"):
        verdict, problem = "malformed", f"success is {bounded_text(success, 30)} with code {code or 'none'}"
    else:
        verdict, problem = failure_verdict(status, code, (message or "").lower()), None
    form = "html" if "html" in (response.headers.get("Content-Type") or "").lower() else "json" if body is not None else "other"
    view = {"reply": verdict, "status": status, "code": code, "message": message, "problem": problem, "form": form}
    return Reply(verdict, problem, body, view)


def failure_verdict(status: int, code: str | None, text: str) -> str:
    """The verdict of a reply that is no success, by its status, its code and the words of its message `text`."""
    by_status = _BY_STATUS.get(status)
    by_code = _BY_STATUS.get(int(code)) if code and code.isascii() and code.isdigit() and code != "404" else None
    rules = (
        ("failed", status >= 500 or 300 <= status < 400),  # the server's trouble, whatever its message says
        ("timestamp", says(text, ("timestamp", "时间戳"))),
        ("replay", says(text, ("nonce", "replay", "replayed", "重复"))),
        ("credentials", "credentials" in (by_status, by_code)),
        # A refusal that names the app key ("该appKey无权限") is about a report, not the key.
        ("refused", says(text, PERMISSION_WORDS)),
        ("credentials", says(text, ("sign", "signature", "appkey", "m7-appkey", "签名", "鉴权"))),
        ("refused", "refused" in (by_status, by_code)),
        ("rate_limited", "rate_limited" in (by_status, by_code) or says(text, ("too many", "rate limit", "频繁"))),
    )
    return next((verdict for verdict, holds in rules if holds), by_status or by_code or "failed")


def problem_of(body: Any, needs: Sequence[str], label: str | None, key_field: str | None, window: Window | None) -> str | None:
    """What keeps a successful envelope from being a report, or None; with a `label`, each row is a new bucket inside `window`."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return "it has no data object" if data is None else f"its data is a {type(data).__name__}, not an object"
    for key in needs:
        if not isinstance(found := data.get(key), list):
            return f"data.{key} is missing" if found is None else f"data.{key} is a {type(found).__name__}, not a list"
    rows: list[Any] = data["list"] if "list" in needs else []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            return f"data.list[{index}] is {'null' if row is None else 'a ' + type(row).__name__}, not an object"
        if key_field and not (isinstance(row.get(key_field), str) and row[key_field].strip()):
            return f"data.list[{index}] has no {key_field} ({key_field}={bounded_text(row.get(key_field), 60)})"
    if not label or window is None:
        return None
    dimension = window.dimension or "hour"  # the API's default
    first = bucket_start(window.start, dimension)
    seen: set[dt.datetime] = set()
    for row in rows:
        (moment, precision), quoted = read_time_label(row.get(label)) or (None, -1), f"{label}={bounded_text(row.get(label), 60)}"
        if moment is None:
            return f"a row labelled {quoted} names no time the connector can read"
        if precision < _LABEL_PRECISION[dimension] or bucket_start(moment, dimension) != moment:
            return f"a row labelled {quoted} is not a {dimension.replace('_', ' ')} bucket"
        if not first <= moment <= window.end:
            return f"a row labelled {quoted} lies outside the window asked for ({window})"
        if moment in seen:
            return f"two rows are labelled {quoted}"
        seen.add(moment)
    return None


class ReportErrorHandler(BoundedRetries):
    """The manifest's error handler (requester_base): the hardening layer's bounded retries with 7moor's reply rules."""

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        super().__post_init__(parameters)
        # A report of buckets names each row's in a label; a daily report keys its rows by the agent.
        self.reads: tuple[str, ...] = tuple(parameters.get("reads") or ("list",))
        bucket = parameters.get("bucket") if "list" in self.reads else None
        self.label_field = BUCKET_LABEL if bucket == "dimension" else None
        self.key_field = parameters["primary_key"][0][0] if bucket == "day" else None
        # Each window's malformed problem on its last attempt (its attempts run one by one, in one thread).
        self._malformed: dict[tuple[str, str], str] = {}

    def window_of(self, request: Any) -> str | None:
        return f"createTime {window}" if (window := window_asked(request)) else None

    def interpret_reply(self, response: requests.Response) -> ErrorResolution:
        reply = read_reply(response, self.reads, self.label_field, self.key_field)
        path = urlsplit(getattr(response.request, "url", None) or "").path
        report = next((name for name, report in settings.report_table().items() if path.endswith(report["path"])), None)
        view = {**reply.view, "report": report, "quote": bounded_text(response.content[:4096].decode("utf-8", "replace"))}
        response.json = lambda **_: view  # type: ignore[method-assign]  # what the manifest's filters evaluate
        try:
            resolution = self.error_handler.interpret_response(response)
        finally:
            del response.json  # requests' own, which raises
            if reply.body is not None:  # the one parse, for the record extractor
                response.json = lambda **_: reply.body  # type: ignore[method-assign]
        if reply.verdict == "report" and resolution.response_action == ResponseAction.SUCCESS:
            self.stop.answered()
        elif reply.verdict == "refused" and resolution.response_action == ResponseAction.FAIL:
            raise Refused(f"{resolution.error_message} {where(self.stream_name, self.window_of(response.request))}", report or "")
        elif reply.verdict == "malformed":
            window = (path, str(self.window_of(response.request)))  # the same across attempts, whatever their objects
            before, self._malformed[window] = self._malformed.get(window), reply.problem or ""
            if before == reply.problem:
                message = f"{resolution.error_message} It came back the same on the attempt before, so it is not transient and is not retried again: report it to 7moor support with the window below."
                return ErrorResolution(ResponseAction.FAIL, FailureType.system_error, message)
        return resolution
