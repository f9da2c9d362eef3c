"""A fault-injecting HTTP reverse proxy on loopback, to put in front of an OpenAI-compatible server in tests.

    with FaultProxy(server.base_url) as proxy:
        proxy.push(status429(retry_after=1), status500())  # the next two requests fail, then pass-through
        proxy.latency_ms = 200  # every request waits this long first
        ... point the client at proxy.base_url ...
        assert proxy.received == 3 and proxy.forwarded == 1

Each request takes the next fault from the queue (pass-through once it is empty). The proxy counts requests
received and forwarded, the most requests in flight at once, and keeps each request's headers and JSON body.
Standard library only: a ThreadingHTTPServer, one thread per connection, forwarding with http.client.
"""

import http.client
import json
import select
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Fault:
    kind: str  # "pass", "status", "delay", "truncate", "replace_content"
    status: int = 200
    retry_after: float | None = None
    seconds: float = 0.0
    text: str = ""
    usage: bool = True


def passthrough() -> Fault:
    return Fault("pass")


def status429(retry_after: float | None = 1) -> Fault:
    """HTTP 429 with a `Retry-After: <seconds>` header (none if `retry_after` is None); not forwarded."""
    return Fault("status", status=429, retry_after=retry_after)


def status500() -> Fault:
    """HTTP 500 with an OpenAI-style error body; not forwarded."""
    return Fault("status", status=500)


def delay(seconds: float) -> Fault:
    """Hold the request for `seconds`, then forward it; dropped if the client gave up (timed out) meanwhile."""
    return Fault("delay", seconds=seconds)


def truncate() -> Fault:
    """Forward, then send back only the first half of the JSON body."""
    return Fault("truncate")


def replace_content(text: str, usage: bool = True) -> Fault:
    """Answer at once, without forwarding, with a valid chat completion whose content is `text` (no `usage` field
    if `usage` is False, like servers that omit it)."""
    return Fault("replace_content", text=text, usage=usage)


class _Server(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: with 16 clients reconnecting for every request (HTTP/1.0) behind
    # 300 ms of latency, a full queue dropped about one connection in 400 ("Connection error", a retry).
    request_queue_size = 128


class FaultProxy:
    def __init__(self, upstream_base_url: str) -> None:
        upstream = urlsplit(upstream_base_url)
        self.upstream = (upstream.hostname, upstream.port)
        self.latency_ms = 0
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.proxy = self
        self.base_url = f"http://127.0.0.1:{self._server.server_port}{upstream.path}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self.reset()

    def push(self, *faults: Fault) -> None:
        """Queue faults for the next requests, in order."""
        with self._lock:
            self._faults.extend(faults)

    def reset(self) -> None:
        """Forget queued faults, latency and counters (between tests)."""
        with self._lock:
            self._faults.clear()
            self.latency_ms = 0
            self.received = 0
            self.forwarded = 0
            self.in_flight = 0
            self.max_in_flight = 0
            self.requests: list[dict] = []  # {"headers": {lowercase name: value}, "body": parsed JSON or None}
            # When no fault is queued: a function of the request body that returns the reply text to send instead
            # of forwarding (a scripted teacher), or None to forward.
            self.responder = None

    def start(self) -> "FaultProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _arrived(self, headers: dict, body: dict | None) -> Fault:
        with self._lock:
            self.received += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.requests.append({"headers": headers, "body": body})
            if self._faults:
                return self._faults.popleft()
            text = self.responder(body or {}) if self.responder else None
            return passthrough() if text is None else replace_content(text)

    def _leaving(self) -> None:
        with self._lock:
            self.in_flight -= 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the OpenAI client expects

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: tests read the proxy's counters, not its log

    def _handle(self) -> None:
        proxy: FaultProxy = self.server.proxy
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        fault = proxy._arrived({k.lower(): v for k, v in self.headers.items()}, body)
        left = False
        try:
            if not self._wait(proxy.latency_ms / 1000):
                return
            if fault.kind == "status":
                error = {"error": {"message": f"errore iniettato dal proxy (HTTP {fault.status})", "type": "fault"}}
                headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
                status, data = fault.status, json.dumps(error).encode()
            elif fault.kind == "replace_content":
                status, headers, data = 200, {}, json.dumps(_completion(body or {}, fault)).encode()
            else:
                if fault.kind == "delay" and not self._wait(fault.seconds):
                    return
                status, data = self._forward(raw)
                with proxy._lock:
                    proxy.forwarded += 1
                headers = {}
                if fault.kind == "truncate":
                    data = data[: len(data) // 2]
            # Counted out before the reply leaves, so a client's next request never overlaps this one in the count.
            proxy._leaving()
            left = True
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        finally:
            if not left:
                proxy._leaving()

    def _wait(self, seconds: float) -> bool:
        """Wait `seconds`, or less if the client hangs up first; False if it did (nobody to answer)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], left)
            if readable:
                if not self.connection.recv(1, socket.MSG_PEEK):  # b"" means the client closed the connection
                    self.close_connection = True
                    return False
                time.sleep(min(left, 0.05))  # a pipelined next request: nothing to do but wait
        return True

    def _forward(self, raw: bytes) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(*self.server.proxy.upstream, timeout=600)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            connection.request(self.command, self.path, body=raw or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()


def _completion(request: dict, fault: Fault) -> dict:
    """A minimal, valid OpenAI chat completion carrying `fault.text`."""
    completion = {
        "id": f"fault-proxy-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", ""),
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": fault.text}},
        ],
    }
    if fault.usage:
        prompt = len(json.dumps(request.get("messages", []), ensure_ascii=False)) // 4 + 1
        completion["usage"] = {
            "prompt_tokens": prompt,
            "completion_tokens": len(fault.text) // 4 + 1,
            "total_tokens": prompt + len(fault.text) // 4 + 1,
        }
    return completion
