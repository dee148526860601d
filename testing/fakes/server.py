"""A small threaded HTTP server on 127.0.0.1 with queued fault modes, shared by the fakes."""

from __future__ import annotations

import base64
import json
import socket
import struct
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

# Fault modes every fake understands (applied to the next matching request):
#   "500", "503"          answer that status
#   "timeout"             hold the request longer than any client timeout, then answer nothing
#   "reset"               close the connection at once, before doing anything (nothing happened)
#   "reset_after"         do the work, then reset the connection without answering (the ambiguous case)
#   "malformed"           answer 200 with a body that is not JSON
#   "expired_token"       answer 401 and forget every token issued so far (the client must get a new one)
#   "token_down"          the token endpoint answers 503
FAULTS = {"500", "503", "timeout", "reset", "reset_after", "malformed", "expired_token", "token_down"}


class FakeServer:
    """Subclasses implement `route(method, path, headers, body) -> (status, payload)`."""

    token_path = "/oauth2/token"
    token_type = "Bearer"

    def __init__(self, *, latency_seconds: float = 0.0, hold_seconds: float = 30.0) -> None:
        self.latency_seconds = latency_seconds
        self.hold_seconds = hold_seconds
        self.lock = threading.Lock()
        self.calls: list[dict] = []
        self.tokens: set[str] = set()
        self.client_id = "learner-credit"
        self.client_secret = "secret"
        self._faults: deque[tuple[str, str]] = deque()
        self._token_counter = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- lifecycle ---------------------------------------------------------------------------------
    def start(self, port: int = 0) -> FakeServer:
        handler = _handler_for(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", port or self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: the system is down (connections are refused) until `start()` again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- faults ----------------------------------------------------------------------------------------
    def fail_next(self, mode: str, *, times: int = 1, on: str = "api") -> None:
        """Queue a fault for the next `times` requests of kind `on` ("api" or "token")."""
        if mode not in FAULTS:
            raise ValueError(f"unknown fault mode {mode!r}")
        with self.lock:
            self._faults.extend([(on, mode)] * times)

    def _take_fault(self, kind: str) -> str | None:
        with self.lock:
            for i, (on, mode) in enumerate(self._faults):
                if on == kind or (kind == "token" and mode == "token_down"):
                    del self._faults[i]
                    return mode
        return None

    def calls_to(self, operation: str) -> list[dict]:
        with self.lock:
            return [c for c in self.calls if c["operation"] == operation]

    # --- tokens ----------------------------------------------------------------------------------------
    def issue_token(self, form: dict) -> tuple[int, dict]:
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        with self.lock:
            self._token_counter += 1
            token = f"token-{self.port}-{self._token_counter}"
            self.tokens.add(token)
        return 200, {"access_token": token, "expires_in": 3600, "token_type": self.token_type, "scope": "read write"}

    def authorized(self, headers) -> bool:
        value = headers.get("Authorization") or ""
        scheme, _, token = value.partition(" ")
        return scheme == self.token_type and token in self.tokens

    def route(self, method: str, path: str, headers, body: bytes) -> tuple[int, object]:
        raise NotImplementedError

    def operation_of(self, method: str, path: str) -> str:
        return f"{method} {path}"


def _handler_for(fake: FakeServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            return

        def do_POST(self) -> None:
            self._handle("POST")

        def do_GET(self) -> None:
            self._handle("GET")

        def _handle(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if fake.latency_seconds:
                time.sleep(fake.latency_seconds)
            path = self.path.split("?", 1)[0]
            is_token = path == fake.token_path
            fault = fake._take_fault("token" if is_token else "api")
            if fault == "token_down" and is_token:
                return self._send(503, {"error": "temporarily_unavailable"})
            if is_token:
                form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                form.update(_basic_auth(self.headers))
                return self._send(*fake.issue_token(form))
            operation = fake.operation_of(method, path)
            with fake.lock:
                fake.calls.append({"operation": operation, "path": path, "body": _json(body), "fault": fault})
            if fault in ("500", "503"):
                return self._send(int(fault), {"detail": "Server error"})
            if fault == "timeout":
                time.sleep(fake.hold_seconds)
                return self._reset()
            if fault == "reset":
                return self._reset()
            if fault == "expired_token":
                with fake.lock:
                    fake.tokens.clear()
                return self._send(401, {"detail": "Token expired"})
            if not fake.authorized(self.headers):
                return self._send(401, {"detail": "Authentication credentials were not provided."})
            status, payload = fake.route(method, path, self.headers, body)
            if fault == "reset_after":
                return self._reset()
            if fault == "malformed":
                return self._send_raw(200, b"<html><body>Bad gateway page</body></html>", "text/html")
            return self._send(status, payload)

        def _send(self, status: int, payload) -> None:
            if payload is None:
                return self._send_raw(status, b"", "application/json")
            return self._send_raw(status, json.dumps(payload).encode(), "application/json")

        def _send_raw(self, status: int, data: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _reset(self) -> None:
            # SO_LINGER 0: close with a TCP RST, as a crashed proxy would.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

    return Handler


def _json(body: bytes):
    try:
        return json.loads(body) if body else None
    except ValueError:
        return body.decode(errors="replace")


def _basic_auth(headers) -> dict:
    value = headers.get("Authorization") or ""
    if not value.startswith("Basic "):
        return {}
    client_id, _, secret = base64.b64decode(value[6:]).decode().partition(":")
    return {"client_id": client_id, "client_secret": secret}
