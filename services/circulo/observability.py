"""Metrics and health over HTTP for the daemons: ``/metrics`` (Prometheus) and ``/healthz``.

One server for every daemon. A daemon passes its own metrics registry (never the global
one, so several daemons and tests share no state) and a health function returning
``(healthy, details)``; ``/healthz`` answers 200 or 503 with the details as JSON, so a
container healthcheck or a load balancer can use it as is.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

HealthCheck = Callable[[], tuple[bool, Mapping[str, Any]]]


class MetricsServer:
    """A small HTTP server in a daemon thread; ``port=0`` picks a free port."""

    def __init__(
        self,
        port: int,
        health: HealthCheck,
        *,
        registry: CollectorRegistry,
        host: str = "0.0.0.0",  # noqa: S104 - scraped from outside
    ) -> None:
        handler = _handler_class(health, registry)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_class(health: HealthCheck, registry: CollectorRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/metrics"):
                self._reply(200, CONTENT_TYPE_LATEST, generate_latest(registry))
            elif self.path.startswith("/healthz"):
                healthy, details = health()
                body = json.dumps({"healthy": healthy, **details}, default=str).encode()
                self._reply(200 if healthy else 503, "application/json", body)
            else:
                self._reply(404, "text/plain", b"not found\n")

        def _reply(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
