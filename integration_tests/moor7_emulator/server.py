"""The emulator's HTTP server: 7moor's three IM report endpoints on localhost.

Strict where 7moor is: the signature is checked exactly as the vendor's rule states it, a
timestamp more than 5 minutes off the server's clock and a `sign + nonce` seen in the last
5 minutes are rejected, and so are a body that is not JSON and a `createTime` that is
malformed, reversed or a year or longer. Faults are injected on demand, and every
request is logged so tests can count requests and check windows and nonces.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import json
import random
import re
import select
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import account as model

TIMESTAMP_TOLERANCE_SECONDS = 300
REPLAY_WINDOW_SECONDS = 300
CREATE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
PATHS = {
    "/openapi/im-report/session/time": "session_time",
    "/openapi/im-report/agent/workload": "agent_workload",
    "/openapi/im-report/agent/quality": "agent_quality",
}
# Every fault the server can inject; "ok" in a script means "no fault for this request".
FAULT_KINDS = (
    "http_429",  # HTTP 429 with Retry-After
    "envelope_rate_limit",  # HTTP 200, success false, code 429
    "http_500",  # HTTP 500 with a JSON error envelope
    "html_502",  # HTTP 502 with a gateway's HTML page
    "html_503",
    "html_504",
    "drop",  # the connection is closed without an answer
    "truncate",  # HTTP 200 whose JSON body is cut short
    "not_json",  # HTTP 200 with a body that is not JSON
)
TRANSIENT_FAULTS = FAULT_KINDS
# Scripted only (not drawn at random): a 401 "replayed request", as 7moor answers a reused nonce;
# successful envelopes without a report in the documented shape; an answer whose body
# trickles in a byte a second behind a Content-Length of 1 MB; one that sends the first
# `stall_after_bytes` of the 1 MB its Content-Length promises and then nothing; one cut off
# after 100 of the 1,000 bytes its Content-Length promises; and a 200 MB binary body (chunked,
# so no Content-Length warns the client), as a misconfigured gateway might send.
MALFORMED_SUCCESSES = {
    "success_no_data": {"success": True, "code": "200", "message": "requestSuccess"},
    "success_data_null": {"success": True, "code": "200", "message": "requestSuccess", "data": None},
    "success_list_object": {"success": True, "code": "200", "message": "requestSuccess", "data": {"header": [], "list": {}}},
    "success_list_null": {"success": True, "code": "200", "message": "requestSuccess", "data": {"header": [], "list": None}},
}
# Replies that differ from the vendor's page in small, plausible ways (scripted only): a success
# envelope carried by an HTTP error status (503, 404); a session report holding one more row,
# labelled far outside the window asked for; a report whose list holds a null; a 400 whose
# message names no setting.
REPORT_FAULTS = ("success_503", "success_404", "stray_row", "null_row")
SCRIPT_ONLY_FAULTS = ("replay", "trickle", "stall", "cut_body", "huge_body", "bad_request", *MALFORMED_SUCCESSES, *REPORT_FAULTS)
# What the slow faults promise or send.
TRICKLE_CONTENT_LENGTH = 1_000_000
HUGE_BODY_BYTES = 200_000_000
# The huge body is this block over and over (seeded, so runs repeat), never built whole.
_HUGE_BLOCK = random.Random(20).randbytes(1 << 16)
FAULT_STATUS = {
    "replay": 401,
    "http_429": 429,
    "http_500": 500,
    "html_502": 502,
    "html_503": 503,
    "html_504": 504,
    "drop": 0,
    "bad_request": 400,
    "success_503": 503,
    "success_404": 404,
}


@dataclass
class LoggedRequest:
    path: str
    stream: str | None
    window: tuple[str, str] | None
    body: Any
    app_key: str | None
    timestamp: str | None
    nonce: str | None
    sign: str | None
    status: int
    outcome: str  # "ok", a fault kind, or the rejection's reason
    received_at: float = 0.0  # time.perf_counter() when the request arrived
    answered_at: float = 0.0  # and when its answer was sent
    body_bytes: int = 0  # body bytes written (the last piece perhaps in part) before the answer ended or the client hung up


@dataclass
class Faults:
    """What goes wrong, and when. `script` faults apply to the next requests in order;
    then `rate` is the chance of a fault drawn from `kinds` (seeded, so runs repeat)."""

    script: list[str] = field(default_factory=list)
    rate: float = 0.0
    kinds: Sequence[str] = TRANSIENT_FAULTS
    seed: int = 7
    latency_seconds: float = 0.0
    clock_offset_seconds: float = 0.0
    error_style: str = "http"  # "http": errors carry an HTTP error status; "envelope": HTTP 200
    send_date_header: bool = True
    retry_after_seconds: int = 1
    # (stream, createTime start) pairs answered with HTTP 500 every time: a window that
    # fails for good, so that a client's retries run out on it.
    broken_windows: Sequence[tuple[str, str]] = ()
    # Streams whose report the account may not read: HTTP 403 with `forbidden_message`.
    forbidden_streams: Sequence[str] = ()
    forbidden_message: str = "无权限访问该接口"
    # Retry-After as an HTTP date (retry_after_seconds ahead) instead of a number of seconds.
    retry_after_as_date: bool = False
    # How long a "trickle" answer (a byte a second) or a "stall" goes on at most before the
    # server gives up.
    trickle_seconds: float = 600.0
    # The body bytes a "stall" answer sends before it goes silent.
    stall_after_bytes: int = 480_000
    # Every answer's body goes out at this many bytes a second (0: at once), a tenth of a
    # second's worth at a time: a slow link. The pauses are `time.sleep`, which a test can
    # make virtual.
    body_bytes_per_second: float = 0.0
    # Characters appended to `padded_field` ("message" or "code") of every error envelope: a
    # server that says too much.
    message_padding: int = 0
    padded_field: str = "message"
    # How the envelope spells its values: code "200" as the page shows it, or the number 200
    # ("int"); success as true or as the text "true".
    code_type: str = "string"
    success_as_text: bool = False
    # The message of every credential rejection (401) instead of the server's own words: one
    # that names neither the signature nor the app key.
    credential_message: str | None = None
    # Every request answered with `redirect_status` and a Location on this URL (plus the path).
    redirect_to: str | None = None
    redirect_status: int = 307
    # Numbers in report rows sent as JSON strings ("34"), the values of nested objects too; and
    # (column, text): that column of every report row sent as this text (a placeholder such as "-").
    numbers_as_strings: bool = False
    text_in_column: tuple[str, str] | None = None
    # The label of the extra row a "stray_row" fault adds to a session report.
    stray_label: str = "2099-12-31"
    # A 429's Retry-After as this text instead of a number of seconds.
    retry_after_text: str | None = None
    # Every report sent with its rows and without `data.header`.
    without_header: bool = False


class Emulator:
    """The server and its state: account, faults, replay cache and request log."""

    def __init__(
        self, account: model.Account | None = None, faults: Faults | None = None, host: str = "127.0.0.1", port: int = 0
    ):
        self.account = account or model.Account()
        self.faults = faults or Faults()
        self._random = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}
        self.log: list[LoggedRequest] = []
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Emulator:
        # stop() waits for the serving loop to look up: at the default 0.5 s, most of a short test's time.
        serve = functools.partial(self._server.serve_forever, poll_interval=0.02)
        self._thread = threading.Thread(target=serve, name="moor7-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    # --- state -------------------------------------------------------------------------
    def set_faults(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults
            self._random = random.Random(faults.seed)

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()

    def requests_for(self, stream: str, outcome: str | None = "ok") -> list[LoggedRequest]:
        with self._lock:
            return [r for r in self.log if r.stream == stream and (outcome is None or r.outcome == outcome)]

    def now(self) -> float:
        return time.time() + self.faults.clock_offset_seconds

    def _record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.log.append(entry)

    def _next_fault(self) -> str | None:
        with self._lock:
            if self.faults.script:
                kind = self.faults.script.pop(0)
                return None if kind == "ok" else kind
            if self.faults.rate and self._random.random() < self.faults.rate:
                return self._random.choice(list(self.faults.kinds))
        return None

    def _check_replay(self, sign: str, nonce: str) -> bool:
        """True (and remembered) if this sign + nonce was not seen in the last 5 minutes."""
        now = time.monotonic()
        key = sign + nonce
        with self._lock:
            for old_key, seen_at in list(self._seen.items()):
                if now - seen_at > REPLAY_WINDOW_SECONDS:
                    del self._seen[old_key]
            if key in self._seen:
                return False
            self._seen[key] = now
            return True

    # --- reports -----------------------------------------------------------------------
    def report(self, stream: str, start: dt.datetime, end: dt.datetime, body: dict[str, Any]) -> dict[str, Any]:
        account = self.account
        if stream == "session_time":
            header = model.session_header(account)
            rows = model.session_rows(account, start, end, body.get("dimension") or "hour", body.get("accessIds"))
        elif stream == "agent_workload":
            header = model.workload_header(account)
            rows = model.workload_rows(account, start, end, body.get("agentList"))
        else:
            header = model.quality_header(account)
            rows = model.quality_rows(account, start, end, body.get("agentList"))
        return {"header": header, "list": rows}

    def retyped(self, row: dict[str, Any]) -> dict[str, Any]:
        """A report row as `numbers_as_strings` and `text_in_column` have the server spell it."""
        faults = self.faults
        if faults.numbers_as_strings:
            row = {k: _as_text(v) for k, v in row.items()}
        if faults.text_in_column and faults.text_in_column[0] in row:
            row = {**row, faults.text_in_column[0]: faults.text_in_column[1]}
        return row


def _as_text(value: Any) -> Any:
    """A number as text, and so the numbers of an object's values (the nested columns)."""
    if isinstance(value, dict):
        return {key: _as_text(inner) for key, inner in value.items()}
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def sign(secret_key: str, app_key: str, timestamp: str, nonce: str) -> str:
    digest = hmac.new(secret_key.encode(), f"{app_key}{timestamp}{nonce}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class Rejection(Exception):
    def __init__(self, status: int, code: str, message: str, reason: str):
        super().__init__(message)
        self.status, self.code, self.message, self.reason = status, code, message, reason


def parse_create_time(body: Any) -> tuple[dt.datetime, dt.datetime]:
    value = body.get("createTime") if isinstance(body, dict) else None
    if not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, str) for v in value):
        raise Rejection(400, "400", 'createTime is required: ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm:ss"]', "bad_create_time")
    try:
        # account-local wall-clock time, as 7moor reads it
        start, end = (dt.datetime.strptime(v, CREATE_TIME_FORMAT) for v in value)  # noqa: DTZ007
    except ValueError:
        raise Rejection(400, "400", f"createTime format error: {value}", "bad_create_time") from None
    if end < start:
        raise Rejection(400, "400", "createTime end is before its start", "reversed_create_time")
    try:
        one_year_later = start.replace(year=start.year + 1)
    except ValueError:  # 29 February
        one_year_later = start.replace(year=start.year + 1, day=28)
    if end >= one_year_later:
        raise Rejection(400, "400", "createTime 最长时间不能超过一年 (at most one year)", "window_too_long")
    return start, end


def _handler_for(emulator: Emulator) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "moor7-emulator"
        # The headers and the body go out in two writes; with Nagle's algorithm on, the
        # second waits for the client's delayed ACK (40 ms on Linux) on every request, which
        # a real gateway does not do and which would swamp any latency figure.
        disable_nagle_algorithm = True
        # The request being answered, whose `body_bytes` the body writes count.
        _entry: LoggedRequest | None = None

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the request log is the record
            pass

        def date_time_string(self, timestamp: float | None = None) -> str:
            return formatdate(emulator.now() if timestamp is None else timestamp, usegmt=True)

        def do_GET(self) -> None:
            self._send_json(405, {"success": False, "code": "405", "message": "use POST"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            stream = PATHS.get(self.path)
            entry = LoggedRequest(
                path=self.path,
                stream=stream,
                window=None,
                body=None,
                app_key=headers.get("m7-appkey"),
                timestamp=headers.get("m7-timestamp"),
                nonce=headers.get("m7-nonce"),
                sign=headers.get("m7-sign"),
                status=0,
                outcome="",
                received_at=time.perf_counter(),
            )
            # Logged before any answer is sent, so a client that has its answer sees the entry.
            emulator._record(entry)
            self._entry = entry
            if emulator.faults.latency_seconds:
                time.sleep(emulator.faults.latency_seconds)
            if emulator.faults.redirect_to:
                entry.outcome, entry.status = "redirect", emulator.faults.redirect_status
                location = emulator.faults.redirect_to.rstrip("/") + self.path
                self._send_bytes(emulator.faults.redirect_status, b"", "text/plain", {"Location": location})
                return
            try:
                body = self._authenticate_and_parse(headers, raw, stream, entry)
                start, end = parse_create_time(body)
                entry.window = (start.strftime(CREATE_TIME_FORMAT), end.strftime(CREATE_TIME_FORMAT))
                if "dimension" in body and body["dimension"] not in model.DIMENSIONS:
                    raise Rejection(400, "400", f"dimension must be one of {model.DIMENSIONS}", "bad_dimension")
                if stream in emulator.faults.forbidden_streams:
                    raise Rejection(403, "403", emulator.faults.forbidden_message, "forbidden")
                fault = "http_500" if (stream, entry.window[0]) in emulator.faults.broken_windows else emulator._next_fault()
                if fault in REPORT_FAULTS:
                    entry.outcome, entry.status = fault, FAULT_STATUS.get(fault, 200)
                    data = emulator.report(stream, start, end, body)  # type: ignore[arg-type]
                    if fault.startswith("success_"):
                        data = {"header": data["header"], "list": []}
                    elif fault == "stray_row" and stream == "session_time":
                        data["list"].append({**data["list"][-1], "time": emulator.faults.stray_label})
                    elif fault == "null_row":
                        data["list"].append(None)
                    self._send_json(entry.status, {"success": True, "code": "200", "message": "requestSuccess", "data": data})
                    return
                if fault:
                    status = FAULT_STATUS.get(fault, 200)
                    if fault == "http_500" and emulator.faults.error_style == "envelope":
                        status = 200
                    entry.outcome, entry.status = fault, status
                    self._inject(fault)
                    return
                data = emulator.report(stream, start, end, body)  # type: ignore[arg-type]
                data["list"] = [emulator.retyped(row) for row in data["list"]]
                if emulator.faults.without_header:
                    del data["header"]
                envelope = {
                    "success": True,
                    "code": "200",
                    "message": "requestSuccess",
                    "data": data,
                    "requestInfo": {"url": self.path, "body": body, "requestId": entry.nonce},
                }
                entry.outcome, entry.status = "ok", 200
                self._send_json(200, envelope)
                entry.answered_at = time.perf_counter()
            except Rejection as rejection:
                entry.outcome = rejection.reason
                entry.status = 200 if emulator.faults.error_style == "envelope" else rejection.status
                message = rejection.message
                if rejection.code == "401" and rejection.reason != "replay" and emulator.faults.credential_message:
                    message = emulator.faults.credential_message
                self._send_json(entry.status, {"success": False, "code": rejection.code, "message": message})

        def _authenticate_and_parse(
            self, headers: dict[str, str], raw: bytes, stream: str | None, entry: LoggedRequest
        ) -> dict[str, Any]:
            if stream is None:
                raise Rejection(404, "404", f"no such API: {self.path}", "not_found")
            app_key, timestamp, nonce, signature = (headers.get(h) for h in ("m7-appkey", "m7-timestamp", "m7-nonce", "m7-sign"))
            if not app_key or app_key != emulator.account.app_key:
                raise Rejection(401, "401", "invalid m7-appkey", "bad_app_key")
            if not timestamp or not re.fullmatch(r"\d{10}", timestamp):
                raise Rejection(401, "401", "m7-timestamp must be the Unix time in seconds (10 digits)", "bad_timestamp")
            if abs(int(timestamp) - emulator.now()) > TIMESTAMP_TOLERANCE_SECONDS:
                raise Rejection(401, "401", "m7-timestamp expired: more than 5 minutes from the server time", "timestamp_skew")
            if not nonce or not re.fullmatch(r"\d{6}", nonce):
                raise Rejection(401, "401", "m7-nonce must be 6 digits", "bad_nonce")
            expected = sign(emulator.account.secret_key, app_key, timestamp, nonce)
            if not signature or not hmac.compare_digest(signature, expected):
                raise Rejection(401, "401", "m7-sign verification failed", "bad_sign")
            if not emulator._check_replay(signature, nonce):
                raise Rejection(401, "401", "duplicate m7-nonce: replayed request", "replay")
            if "application/json" not in headers.get("content-type", ""):
                raise Rejection(400, "400", "content-type must be application/json", "not_json_body")
            try:
                body = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise Rejection(400, "400", "request body must be JSON", "not_json_body") from None
            if not isinstance(body, dict):
                raise Rejection(400, "400", "request body must be a JSON object", "not_json_body")
            entry.body = body
            return body

        def _inject(self, fault: str) -> int:
            envelope_style = emulator.faults.error_style == "envelope"
            if fault == "http_429":
                wait = emulator.faults.retry_after_seconds
                retry_after = formatdate(emulator.now() + wait, usegmt=True) if emulator.faults.retry_after_as_date else str(wait)
                retry_after = emulator.faults.retry_after_text or retry_after
                self._send_json(
                    429,
                    {"success": False, "code": "429", "message": "请求过于频繁 (too many requests)"},
                    extra_headers={"Retry-After": retry_after},
                )
                return 429
            if fault in MALFORMED_SUCCESSES:
                self._send_json(200, MALFORMED_SUCCESSES[fault])
                return 200
            if fault == "trickle":
                self._trickle()
                return 200
            if fault == "stall":
                self._stall()
                return 200
            if fault == "huge_body":
                self._huge_body()
                return 200
            if fault == "cut_body":
                self.send_response_only(200)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b'{"success": true, "code": "200", "data": {"header": [], "list": [' + b" " * 60)
                self.close_connection = True
                return 200
            if fault == "replay":
                self._send_json(
                    200 if envelope_style else 401,
                    {"success": False, "code": "401", "message": "duplicate m7-nonce: replayed request"},
                )
                return 401
            if fault == "bad_request":
                self._send_json(200 if envelope_style else 400, {"success": False, "code": "400", "message": "参数错误"})
                return 400
            if fault == "envelope_rate_limit":
                self._send_json(200, {"success": False, "code": "429", "message": "请求过于频繁 (too many requests)"})
                return 200
            if fault == "http_500":
                status = 200 if envelope_style else 500
                self._send_json(status, {"success": False, "code": "500", "message": "服务器内部错误 (internal error)"})
                return status
            if fault.startswith("html_"):
                status = int(fault[5:])
                page = f"<html><head><title>{status} Bad Gateway</title></head><body><center><h1>{status}</h1></center><hr><center>nginx</center></body></html>"
                self._send_bytes(status, page.encode(), "text/html")
                return status
            if fault == "drop":
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return 0
            if fault == "truncate":
                payload = json.dumps(
                    {
                        "success": True,
                        "code": "200",
                        "message": "requestSuccess",
                        "data": {"header": [], "list": [{"time": "2024"}]},
                    }
                ).encode()
                self._send_bytes(200, payload[: len(payload) // 2], "application/json")
                return 200
            if fault == "not_json":
                self._send_bytes(200, b"service busy, please retry", "text/plain")
                return 200
            raise ValueError(f"unknown fault {fault!r}")

        def _trickle(self) -> None:
            """Headers promising 1 MB, then a byte a second until the client goes away or
            `trickle_seconds` have passed."""
            self.send_response_only(200)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(TRICKLE_CONTENT_LENGTH))
            self.end_headers()
            self.close_connection = True
            ends_at = time.monotonic() + emulator.faults.trickle_seconds
            try:
                self.wfile.write(b"{")
                self.wfile.flush()
                while time.monotonic() < ends_at:
                    time.sleep(1.0)
                    self.wfile.write(b" ")
                    self.wfile.flush()
            except OSError:  # the client hung up
                pass

        def _stall(self) -> None:
            """Headers promising 1 MB, the first `stall_after_bytes` of it (paced as every body
            is), then silence until the client hangs up or `trickle_seconds` have passed."""
            self.send_response_only(200)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(TRICKLE_CONTENT_LENGTH))
            self.end_headers()
            self.close_connection = True
            sent = min(emulator.faults.stall_after_bytes, TRICKLE_CONTENT_LENGTH - 1)
            if not self._write_body(b"{" + b" " * (sent - 1)):
                return
            ends_at = time.monotonic() + emulator.faults.trickle_seconds
            while time.monotonic() < ends_at and not self._client_hung_up(within=0.005):
                time.sleep(1.0)

        def _client_hung_up(self, within: float) -> bool:
            """The client closed or shut down its end within `within` seconds of real time (it
            sends nothing while it waits for an answer). The wait is real even on the tests'
            virtual clock: it gives the client the moment it needs to read what it was sent
            before a virtual second passes."""
            try:
                readable, _, _ = select.select([self.connection], [], [], within)
                return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                return True

        def _huge_body(self) -> None:
            """HTTP 200 with a `HUGE_BODY_BYTES` binary body in chunked encoding, written one
            block at a time until it ends or the client hangs up."""
            self.send_response_only(200)
            if emulator.faults.send_date_header:
                self.send_header("Date", self.date_time_string())
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.close_connection = True
            left = HUGE_BODY_BYTES
            while left > 0:
                block = _HUGE_BLOCK[:left]
                if not self._write_body(b"%x\r\n%b\r\n" % (len(block), block)):
                    return
                left -= len(block)
            self._write_body(b"0\r\n\r\n")

        def _write_body(self, payload: bytes) -> bool:
            """Writes a body (or part of one), paced at `body_bytes_per_second` when it is set;
            False if the client hung up meanwhile."""
            rate = emulator.faults.body_bytes_per_second
            step = max(1, int(rate / 10)) if rate else len(payload) or 1
            view = memoryview(payload)
            try:
                for offset in range(0, len(payload), step):
                    piece = view[offset : offset + step]
                    if rate:
                        time.sleep(len(piece) / rate)  # the piece arrives when a link of that rate delivers it
                    if self._entry is not None:  # counted first: a client that has the body sees it counted
                        self._entry.body_bytes += len(piece)
                    self.wfile.write(piece)
            except OSError:  # the client hung up
                self.close_connection = True
                return False
            return True

        def _send_json(self, status: int, payload: dict[str, Any], extra_headers: dict[str, str] | None = None) -> None:
            if payload.get("success") is False and emulator.faults.message_padding:
                field_name = emulator.faults.padded_field
                payload = {**payload, field_name: str(payload[field_name]) + "服" * emulator.faults.message_padding}
            if emulator.faults.code_type == "int" and str(payload.get("code", "")).isdigit():
                payload = {**payload, "code": int(payload["code"])}
            if emulator.faults.success_as_text and isinstance(payload.get("success"), bool):
                payload = {**payload, "success": str(payload["success"]).lower()}
            self._send_bytes(
                status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), "application/json;charset=UTF-8", extra_headers
            )

        def _send_bytes(
            self, status: int, payload: bytes, content_type: str, extra_headers: dict[str, str] | None = None
        ) -> None:
            self.send_response_only(status)
            self.send_header("Server", self.server_version)
            if emulator.faults.send_date_header:
                self.send_header("Date", self.date_time_string())
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (extra_headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self._write_body(payload)

    return Handler
