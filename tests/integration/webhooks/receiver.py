"""A real HTTP receiver for the webhook tests: a server on loopback that verifies each
request's signature, as docs/webhooks.md tells a receiver to, and answers as scripted."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mongoshop.webhooks.signing import EVENT_ID_HEADER, verify

Answer = int | str
"""An HTTP status, or "drop" (close without answering), or "hang:<seconds>" (answer 200
that late: after the client gave up), or "retry-after:<seconds>" (429 with the header)."""
Script = Callable[[str, int], Answer]
"""(event id, how many times this id arrived before) → the answer."""


def always_ok(event_id: str, before: int) -> Answer:
    return 200


@dataclass(frozen=True)
class Arrival:
    event_id: str
    type: str
    body: dict[str, Any]
    verified: bool
    answer: Answer
    at: float
    header_id: str
    headers: dict[str, str] = field(default_factory=dict)


class Receiver:
    def __init__(self, script: Script = always_ok) -> None:
        self.script = script
        self.secrets: list[str] = []
        self.lock = threading.Lock()
        self.arrivals: list[Arrival] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/hooks?from=mongoshop"

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {name: value for name, value in self.headers.items()}
                verified = any(
                    verify(secret, headers, body, time.time()) for secret in receiver.secrets
                )
                event = json.loads(body)
                with receiver.lock:
                    before = sum(1 for a in receiver.arrivals if a.event_id == event["id"])
                    answer = receiver.script(event["id"], before)
                    receiver.arrivals.append(
                        Arrival(
                            event["id"],
                            event["type"],
                            event,
                            verified,
                            answer,
                            time.monotonic(),
                            headers.get(EVENT_ID_HEADER, ""),
                            {name.lower(): value for name, value in headers.items()},
                        )
                    )
                if answer == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                status = 200
                extra: dict[str, str] = {}
                if isinstance(answer, str) and answer.startswith("hang:"):
                    time.sleep(float(answer.split(":", 1)[1]))
                elif isinstance(answer, str) and answer.startswith("retry-after:"):
                    status, extra = 429, {"Retry-After": answer.split(":", 1)[1]}
                elif isinstance(answer, int):
                    status = answer
                try:
                    self.send_response(status)
                    for name, value in extra.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the client gave up first (a timeout): that is the test

        return Handler

    def snapshot(self) -> list[Arrival]:
        with self.lock:
            return list(self.arrivals)

    def accepted(self) -> list[Arrival]:
        """The arrivals answered 2xx in time to count (not "hang", not "drop")."""
        return [a for a in self.snapshot() if isinstance(a.answer, int) and 200 <= a.answer < 300]

    def accepted_ids(self) -> Counter[str]:
        return Counter(a.event_id for a in self.accepted())
