"""Slow clients cannot starve the service served as documented (gunicorn.conf.py: threaded workers).

Four clients trickle their request headers, one line every 0.5 s for 5 s (what held both sync workers for
39 s under the adversarial run). While all four are still sending, a plain request is answered. Bounded:
every socket has a timeout and the slow clients stop after 10 lines.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings

SLOW_CLIENTS = 4
LINES, EVERY = 10, 0.5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path):
    port = _free_port()
    gunicorn = Path(sys.executable).with_name("gunicorn")
    env = os.environ | {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'slow.sqlite3'}",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "slow-clients-test-key-0123456789",
        "DEBUG": "false",
        "WEB_CONCURRENCY": "2",
    }
    process = subprocess.Popen(
        [str(gunicorn), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "learner_credit.wsgi"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)


def _slow_client(port: int, done: list) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        for line in range(LINES):
            time.sleep(EVERY)
            sock.sendall(f"X-Slow-{line}: {line}\r\n".encode())
        sock.sendall(b"Connection: close\r\n\r\n")
        done.append(sock.recv(64))


def test_a_request_is_answered_while_slow_clients_hold_connections_open(server):
    done: list[bytes] = []
    slow = [threading.Thread(target=_slow_client, args=(server, done)) for _ in range(SLOW_CLIENTS)]
    for thread in slow:
        thread.start()
    time.sleep(1.0)  # every slow client is connected and mid-request

    with socket.create_connection(("127.0.0.1", server), timeout=30) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        answer = sock.recv(64)
    still_sending = SLOW_CLIENTS - len(done)

    for thread in slow:
        thread.join(timeout=30)
    assert answer.startswith(b"HTTP/1.1 302"), answer
    assert still_sending == SLOW_CLIENTS  # answered before any slow client had finished its request
    assert len(done) == SLOW_CLIENTS and all(d.startswith(b"HTTP/1.1 302") for d in done)
