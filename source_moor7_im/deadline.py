"""A wall-clock deadline for each HTTP attempt, body included.

`requests` bounds the connection and each socket read, not the whole answer: a server that
sends its headers and then a byte a second keeps a read timeout from ever firing, and the
retry budget, which counts between attempts, never gets a say. `AttemptDeadline` is a
`requests` response hook (the authenticator attaches it to every attempt, since it is the
one component the CDK calls on each): it reads the body itself, giving each socket read only
what is left of the attempt's time, and cuts the attempt at the deadline. The headers are
bounded by the requester's connect and read timeouts, which are never longer than this.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import requests
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError

_CHUNK_BYTES = 256 * 1024  # at most this much per read; each read is one socket read


class AttemptDeadlineExceeded(requests.exceptions.ReadTimeout):
    """The answer did not arrive whole within the attempt's deadline."""


@dataclass(frozen=True)
class AttemptDeadline:
    seconds: float
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)

    def __call__(self, response: requests.Response, **send_kwargs: Any) -> requests.Response:
        if send_kwargs.get("stream"):
            return response
        deadline = self.clock() + self.seconds - response.elapsed.total_seconds()
        chunks = []
        try:
            while True:
                self._limit_next_read(response, deadline)
                chunk = self._read_some(response, deadline)
                if not chunk:
                    break
                chunks.append(chunk)
        except requests.RequestException:
            response.close()  # a half-read connection must not go back to the pool
            raise
        response._content = b"".join(chunks)
        response._content_consumed = True
        return response

    def _read_some(self, response: requests.Response, deadline: float) -> bytes:
        """One socket read's worth of the (decoded) body, b"" at its end; urllib3's errors as
        the `requests` exceptions `Response.iter_content` would raise."""
        try:
            return response.raw.read1(_CHUNK_BYTES, decode_content=True)
        except ReadTimeoutError as error:
            if self.clock() >= deadline:
                raise self._exceeded(response) from None
            raise requests.exceptions.ReadTimeout(error, request=response.request) from None
        except ProtocolError as error:
            raise requests.exceptions.ChunkedEncodingError(error, request=response.request) from None
        except DecodeError as error:
            raise requests.exceptions.ContentDecodingError(error, request=response.request) from None

    def _limit_next_read(self, response: requests.Response, deadline: float) -> None:
        left = deadline - self.clock()
        if left <= 0:
            raise self._exceeded(response)
        sock = getattr(getattr(response.raw, "connection", None), "sock", None)
        if sock is not None:
            sock.settimeout(left)

    def _exceeded(self, response: requests.Response) -> AttemptDeadlineExceeded:
        return AttemptDeadlineExceeded(
            f"no complete answer within {self.seconds:g} s (the body was still arriving)",
            request=response.request,
            response=None,
        )
