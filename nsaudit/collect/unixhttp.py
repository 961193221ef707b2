"""GET a JSON document from a daemon's REST API over its unix socket, never waiting long: a
daemon that is down, or a socket that accepts and never answers, is an answer in words."""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any

MAX_BODY = 16 * 1024 * 1024


class Unanswered(Exception):
    """The daemon did not answer: the message says why, in words."""


class _Connection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.unix_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def get_json(path: str, url: str, timeout: float) -> Any:
    """The JSON body of GET `url` from the socket at `path`; Unanswered when there is none
    within `timeout` seconds a step (connect, each read)."""
    conn = _Connection(path, timeout)
    try:
        conn.request("GET", url, headers={"Accept": "application/json"})
        response = conn.getresponse()
        body = response.read(MAX_BODY + 1)
    except TimeoutError:
        raise Unanswered(f"{path}: no answer within {timeout:g} s") from None
    except (OSError, http.client.HTTPException) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
        raise Unanswered(f"{path}: {reason}") from None
    finally:
        conn.close()
    if response.status != 200:
        raise Unanswered(f"{path}: GET {url} answered {response.status}")
    if len(body) > MAX_BODY:
        raise Unanswered(f"{path}: GET {url} answered more than {MAX_BODY} bytes")
    try:
        return json.loads(body)
    except ValueError:
        raise Unanswered(f"{path}: GET {url} answered something other than JSON") from None
