"""The plumbing both fake services share: a real HTTP/1.1 server on 127.0.0.1 in a thread.

:class:`FakeServer` records every request, injects failures on request
(:class:`Failure`), and serves byte bodies with ``Range``/206 the way CDNs
do. :mod:`support.fake_civitai` and :mod:`support.fake_hub` add the routes.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import socket
import struct
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


class Failure(Enum):
    """What an injected fault looks like on the wire."""

    #: 429 with a JSON body and no Retry-After (what Cloudflare and Civitai send).
    RATE_LIMIT = "429"
    #: 429 with ``Retry-After: 7`` (what the Hugging Face Hub sends).
    RATE_LIMIT_RETRY_AFTER = "429-retry-after"
    #: 403 with Cloudflare's "Just a moment..." HTML page.
    CLOUDFLARE = "cloudflare"
    #: 500 with a JSON error.
    SERVER_ERROR = "500"
    #: 503 with an HTML maintenance page.
    UNAVAILABLE = "503"
    #: Headers and part of the body, then the connection closes (``after_bytes``).
    DROP = "drop"
    #: The connection is reset before any answer.
    RESET = "reset"
    #: 200 with an HTML page instead of the real answer (a maintenance page).
    HTML_OK = "html-200"
    #: 404 with the web app's HTML "page could not be found" (a route that is gone or
    #: restricted), not the API's JSON ``{"error": …}``.
    HTML_404 = "html-404"
    #: The storage host's refusal of an expired signed URL (:meth:`FakeServer.expired`).
    EXPIRED = "expired"


CLOUDFLARE_PAGE = (
    b'<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>'
    b'<meta http-equiv="refresh" content="390"></head><body><div id="cf-chl-widget">'
    b"Checking if the site connection is secure</div></body></html>"
)
MAINTENANCE_PAGE = b"<!DOCTYPE html><html><body><h1>We'll be right back</h1></body></html>"
NOT_FOUND_PAGE = (
    b"<!DOCTYPE html><html><head><title>404: This page could not be found</title></head>"
    b"<body><h1>404</h1><h2>This page could not be found.</h2></body></html>"
)


@dataclass
class Injection:
    prefix: str
    failure: Failure
    times: int
    after_bytes: int
    method: str | None = None
    skip: int = 0


@dataclass(frozen=True)
class Request:
    """One request as the server saw it (for assertions: counts, headers, params)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        lowered = {k.lower(): v for k, v in self.headers.items()}
        return lowered.get(name.lower())

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Body:
    """Bytes to serve: in memory, or a file on disk (served with ``os.sendfile``)."""

    data: bytes | None = None
    path: Path | None = None

    @property
    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        assert self.path is not None
        return self.path.stat().st_size


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up mid-body are part of the tests; stay quiet."""


class FakeServer:
    """Base of the fakes: start/stop, request log, failure injection, byte serving."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.requests: list[Request] = []
        #: Answer Range requests with the whole body (200), like some servers do.
        self.ignore_range = False
        #: Seconds to pause after each 64 KiB of a byte body (a slow link).
        self.chunk_delay = 0.0
        #: JSON answers gzip-compressed and chunked (no Content-Length) whenever the
        #: client accepts gzip, as Cloudflare in front of both real services sends them.
        self.compress_json = True
        #: Byte bodies without Content-Length (chunked), as some mirrors and proxies send.
        self.chunked_bytes = False
        #: Byte bodies gzip-compressed although the client asked for ``identity``.
        self.gzip_bytes = False
        self._injections: list[Injection] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---

    def start(self) -> FakeServer:
        handler = _make_handler(self)
        self._server = _Server((self.host, 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the server first"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- observation ---

    def count(self, prefix: str = "", method: str | None = None) -> int:
        """Requests whose path starts with ``prefix`` (and of ``method``)."""
        with self._lock:
            return sum(
                1
                for r in self.requests
                if r.path.startswith(prefix) and (method is None or r.method == method)
            )

    def requests_to(self, prefix: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    # --- failure injection ---

    def fail(
        self,
        prefix: str,
        failure: Failure,
        *,
        times: int = 1,
        after_bytes: int = 0,
        method: str | None = None,
        skip: int = 0,
    ) -> None:
        """The next ``times`` requests whose path starts with ``prefix`` fail this way.

        ``skip`` lets that many matching requests through first; ``after_bytes``
        is where a :attr:`Failure.DROP` cuts the body (default: half way).
        """
        with self._lock:
            self._injections.append(Injection(prefix, failure, times, after_bytes, method, skip))

    def clear_failures(self) -> None:
        with self._lock:
            self._injections.clear()

    def _take_injection(self, method: str, path: str) -> Injection | None:
        with self._lock:
            for inj in self._injections:
                if path.startswith(inj.prefix) and inj.method in (None, method):
                    if inj.skip > 0:
                        inj.skip -= 1
                        continue
                    inj.times -= 1
                    if inj.times <= 0:
                        self._injections.remove(inj)
                    return inj
        return None

    # --- routes (subclasses) ---

    def expired(self, h: Handler) -> None:
        """How this server's storage refuses an expired signed URL (S3 style by default)."""
        body = (
            b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
            b"<Message>Request has expired</Message></Error>"
        )
        h.send_body(403, body, "application/xml")

    def route(self, h: Handler) -> None:  # pragma: no cover - overridden
        h.send_json(404, {"error": "not found"})


class Handler(BaseHTTPRequestHandler):
    """One request; the fake's ``route`` decides the answer through the ``send_*`` helpers."""

    protocol_version = "HTTP/1.1"
    fake: FakeServer
    server_version = "fake/1.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # parsed request
    path_only: str
    query: dict[str, list[str]]
    body: bytes
    injection: Injection | None

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        self.path_only = parts.path
        self.query = parse_qs(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        fake = self.fake
        with fake._lock:
            fake.requests.append(
                Request(self.command, self.path_only, self.query, dict(self.headers), self.body)
            )
        self.injection = fake._take_injection(self.command, self.path_only)
        inj = self.injection
        if inj is not None and inj.failure is not Failure.DROP:
            self._inject(inj.failure)
            return
        fake.route(self)

    do_GET = _handle
    do_HEAD = _handle
    do_POST = _handle

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def params(self, name: str) -> list[str]:
        """A list parameter, repeated (``a=1&a=2``) or comma-separated (``a=1,2``)."""
        out: list[str] = []
        for value in self.query.get(name, []):
            out += [v.strip() for v in value.split(",") if v.strip()]
        return out

    def bearer(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return None

    # --- answers ---

    def send_json(self, status: int, data: Any, headers: Mapping[str, str] | None = None) -> None:
        body = json.dumps(data).encode()
        accepts = (self.headers.get("Accept-Encoding") or "").lower()
        drop = self.injection is not None and self.injection.failure is Failure.DROP
        if self.fake.compress_json and "gzip" in accepts and self.command != "HEAD" and not drop:
            extra = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding", **(headers or {})}
            return self.send_chunked(
                status, gzip.compress(body), "application/json; charset=utf-8", extra
            )
        self.send_body(status, body, "application/json; charset=utf-8", headers)

    def send_chunked(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
        *,
        piece: int = 8192,
    ) -> None:
        """A body in ``Transfer-Encoding: chunked`` pieces: no Content-Length up front."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        inj = self.injection
        limit = len(body)
        if inj is not None and inj.failure is Failure.DROP:
            limit = min(limit, inj.after_bytes or limit // 2)
        for offset in range(0, limit, piece):
            part = body[offset : min(offset + piece, limit)]
            self.wfile.write(b"%x\r\n" % len(part) + part + b"\r\n")
        if limit < len(body):
            self._hang_up()
            return
        self.wfile.write(b"0\r\n\r\n")

    def send_body(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        inj = self.injection
        drop = inj is not None and inj.failure is Failure.DROP
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        if drop:
            self.wfile.write(body[: inj.after_bytes if inj and inj.after_bytes else len(body) // 2])
            self._hang_up()
            return
        self.wfile.write(body)

    def redirect(
        self, status: int, location: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()

    def send_bytes(
        self,
        body: Body,
        *,
        headers: Mapping[str, str] | None = None,
        content_type: str = "application/octet-stream",
    ) -> None:
        """A byte body with ``Accept-Ranges``; ``Range: bytes=a-[b]`` gets 206 + Content-Range."""
        size = body.size
        start, end = 0, size - 1
        status = 200
        extra = dict(headers or {})
        requested = self.headers.get("Range")
        if requested and not self.fake.ignore_range:
            match = _RANGE.match(requested.strip())
            if match and (match.group(1) or match.group(2)):
                if match.group(1):
                    start = int(match.group(1))
                    end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
                else:  # suffix range
                    start = max(size - int(match.group(2)), 0)
                if start >= size or start > end:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
                extra["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = end - start + 1 if size else 0
        if (self.fake.gzip_bytes or self.fake.chunked_bytes) and self.command != "HEAD":
            data = self._slice(body, start, length)
            if self.fake.gzip_bytes:
                data = gzip.compress(data)
                extra["Content-Encoding"] = "gzip"
            if self.fake.chunked_bytes:
                extra["Accept-Ranges"] = "bytes"
                return self.send_chunked(status, data, content_type, extra, piece=1 << 16)
            return self.send_body(status, data, content_type, {"Accept-Ranges": "bytes", **extra})
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command == "HEAD" or not length:
            return
        inj = self.injection
        limit = length
        if inj is not None and inj.failure is Failure.DROP:
            limit = min(length, inj.after_bytes or length // 2)
        self._write_range(body, start, limit)
        if limit < length:
            self._hang_up()

    @staticmethod
    def _slice(body: Body, start: int, count: int) -> bytes:
        if body.data is not None:
            return body.data[start : start + count]
        assert body.path is not None
        with open(body.path, "rb") as fh:
            fh.seek(start)
            return fh.read(count)

    def _write_range(self, body: Body, start: int, count: int) -> None:
        if body.data is not None and self.fake.chunk_delay:
            view = memoryview(body.data)[start : start + count]
            for offset in range(0, count, 1 << 16):
                self.wfile.write(view[offset : offset + (1 << 16)])
                self.wfile.flush()
                time.sleep(self.fake.chunk_delay)
            return
        if body.data is not None:
            self.wfile.write(memoryview(body.data)[start : start + count])
            return
        assert body.path is not None
        self.wfile.flush()
        with open(body.path, "rb") as fh:
            offset, left = start, count
            while left > 0:
                sent = os.sendfile(self.connection.fileno(), fh.fileno(), offset, left)
                if sent <= 0:
                    break
                offset += sent
                left -= sent

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _inject(self, failure: Failure) -> None:
        if failure is Failure.RESET:
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        if failure is Failure.RATE_LIMIT:
            self.send_json(429, {"error": "Too Many Requests"})
        elif failure is Failure.RATE_LIMIT_RETRY_AFTER:
            self.send_json(429, {"error": "Too Many Requests"}, {"Retry-After": "7"})
        elif failure is Failure.CLOUDFLARE:
            self.send_body(
                403,
                CLOUDFLARE_PAGE,
                "text/html; charset=UTF-8",
                {"Server": "cloudflare", "cf-mitigated": "challenge"},
            )
        elif failure is Failure.SERVER_ERROR:
            self.send_json(500, {"error": "Internal Server Error"})
        elif failure is Failure.UNAVAILABLE:
            self.send_body(503, MAINTENANCE_PAGE, "text/html; charset=UTF-8")
        elif failure is Failure.HTML_OK:
            self.send_body(200, MAINTENANCE_PAGE, "text/html; charset=UTF-8")
        elif failure is Failure.HTML_404:
            self.send_body(404, NOT_FOUND_PAGE, "text/html; charset=utf-8")
        elif failure is Failure.EXPIRED:
            self.fake.expired(self)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()


def _make_handler(fake: FakeServer) -> type[Handler]:
    return type("BoundHandler", (Handler,), {"fake": fake})


@dataclass
class Counter:
    """A thread-safe id source (model, version and file ids of the fakes)."""

    value: int
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self) -> int:
        with self.lock:
            self.value += 1
            return self.value
