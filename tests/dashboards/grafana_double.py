"""A test double of the Grafana HTTP API endpoints ``circulo dashboards push`` uses.

A real ``http.server`` on a free port, answering with the status codes and bodies
Grafana's HTTP API documentation gives (folder, data source and dashboard APIs, Grafana
11): 200 with the object, 404 ``{"message": "… not found"}``, 401 ``{"message":
"Unauthorized"}`` without the bearer token, 409 when creating what exists. It keeps the
objects in memory and logs every request, so a test can see what a push wrote. It is not
Grafana: no real Grafana server runs in these tests.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Handler = Callable[["GrafanaState", dict[str, Any], re.Match[str]], tuple[int, Any]]


@dataclass
class GrafanaState:
    """What the fake server holds, and every request it answered."""

    token: str
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    next_id: int = 1

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def writes(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path in self.requests if method != "GET"]


def get_folder(state: GrafanaState, _body: dict[str, Any], m: re.Match[str]) -> tuple[int, Any]:
    folder = state.folders.get(m["uid"])
    return (200, folder) if folder else (404, {"message": "folder not found", "status": "not-found"})


def create_folder(state: GrafanaState, body: dict[str, Any], _m: re.Match[str]) -> tuple[int, Any]:
    uid = body["uid"]
    if uid in state.folders:
        return 409, {"message": "a folder with the same uid already exists"}
    url = f"/dashboards/f/{uid}/"
    state.folders[uid] = {"id": state.new_id(), "uid": uid, "title": body["title"], "url": url, "version": 1}
    return 200, state.folders[uid]


def update_folder(state: GrafanaState, body: dict[str, Any], m: re.Match[str]) -> tuple[int, Any]:
    folder = state.folders.get(m["uid"])
    if folder is None:
        return 404, {"message": "folder not found", "status": "not-found"}
    folder.update(title=body.get("title", folder["title"]), version=folder["version"] + 1)
    return 200, folder


def stored_datasource(state: GrafanaState, body: dict[str, Any], ds_id: int) -> dict[str, Any]:
    """As Grafana returns it: server fields added, secrets only flagged in secureJsonFields."""
    public = {k: v for k, v in body.items() if k != "secureJsonData"}
    secure = {name: True for name in body.get("secureJsonData", {})}
    return {
        "id": ds_id,
        "orgId": 1,
        "basicAuth": False,
        "readOnly": False,
        "version": 1,
        "typeLogoUrl": "",
        "secureJsonFields": secure,
        **public,
    }


def get_datasource(state: GrafanaState, _body: dict[str, Any], m: re.Match[str]) -> tuple[int, Any]:
    source = state.datasources.get(m["uid"])
    return (200, source) if source else (404, {"message": "Data source not found"})


def create_datasource(state: GrafanaState, body: dict[str, Any], _m: re.Match[str]) -> tuple[int, Any]:
    if body["uid"] in state.datasources:
        return 409, {"message": "data source with the same uid already exists"}
    source = stored_datasource(state, body, state.new_id())
    state.datasources[body["uid"]] = source
    return 200, {
        "datasource": source,
        "id": source["id"],
        "message": "Datasource added",
        "name": source["name"],
    }


def update_datasource(state: GrafanaState, body: dict[str, Any], m: re.Match[str]) -> tuple[int, Any]:
    current = state.datasources.get(m["uid"])
    if current is None:
        return 404, {"message": "Data source not found"}
    source = stored_datasource(state, body, current["id"])
    source["secureJsonFields"] = {**current["secureJsonFields"], **source["secureJsonFields"]}
    state.datasources[m["uid"]] = source
    return 200, {
        "datasource": source,
        "id": source["id"],
        "message": "Datasource updated",
        "name": source["name"],
    }


def get_dashboard(state: GrafanaState, _body: dict[str, Any], m: re.Match[str]) -> tuple[int, Any]:
    stored = state.dashboards.get(m["uid"])
    return (200, stored) if stored else (404, {"message": "Dashboard not found"})


def save_dashboard(state: GrafanaState, body: dict[str, Any], _m: re.Match[str]) -> tuple[int, Any]:
    model = dict(body["dashboard"])
    uid = model["uid"]
    previous = state.dashboards.get(uid)
    if previous is not None and not body.get("overwrite"):
        return 412, {
            "message": "The dashboard has been changed by someone else",
            "status": "version-mismatch",
        }
    version = previous["dashboard"]["version"] + 1 if previous else 1
    dash_id = previous["dashboard"]["id"] if previous else state.new_id()
    model.update(id=dash_id, version=version)
    meta = {"folderUid": body.get("folderUid", ""), "version": version, "slug": uid, "provisioned": False}
    state.dashboards[uid] = {"dashboard": model, "meta": meta}
    return 200, {"id": dash_id, "uid": uid, "url": f"/d/{uid}/{uid}", "status": "success", "version": version}


ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("GET", re.compile(r"^/api/folders/(?P<uid>[^/]+)$"), get_folder),
    ("POST", re.compile(r"^/api/folders$"), create_folder),
    ("PUT", re.compile(r"^/api/folders/(?P<uid>[^/]+)$"), update_folder),
    ("GET", re.compile(r"^/api/datasources/uid/(?P<uid>[^/]+)$"), get_datasource),
    ("POST", re.compile(r"^/api/datasources$"), create_datasource),
    ("PUT", re.compile(r"^/api/datasources/uid/(?P<uid>[^/]+)$"), update_datasource),
    ("GET", re.compile(r"^/api/dashboards/uid/(?P<uid>[^/]+)$"), get_dashboard),
    ("POST", re.compile(r"^/api/dashboards/db$"), save_dashboard),
]


def handler_for(state: GrafanaState) -> type[BaseHTTPRequestHandler]:
    """A request handler bound to ``state``."""

    class GrafanaApiHandler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read ``state.requests``."""

        def answer(self, status: int, body: Any) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def dispatch(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            state.requests.append((method, self.path))
            if self.headers.get("Authorization") != f"Bearer {state.token}":
                self.answer(401, {"message": "Unauthorized"})
                return
            for route_method, pattern, route in ROUTES:
                match = pattern.match(self.path.split("?")[0])
                if route_method == method and match:
                    self.answer(*route(state, body, match))
                    return
            self.answer(404, {"message": "Not found"})

        def do_GET(self) -> None:
            self.dispatch("GET")

        def do_POST(self) -> None:
            self.dispatch("POST")

        def do_PUT(self) -> None:
            self.dispatch("PUT")

    return GrafanaApiHandler


@contextmanager
def fake_grafana(token: str) -> Iterator[tuple[str, GrafanaState]]:
    """Serve the double on 127.0.0.1 and a free port; yields (url, state)."""
    state = GrafanaState(token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
