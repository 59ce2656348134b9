"""Unit tests of the collection's modules and module_utils: no fleet, no Airflow.

The collection is importable as ``ansible_collections.fleetworks.airflow`` through a
link made here, and the REST API is a small in-memory stand-in served over real HTTP
on localhost (it keeps resources by id the way Airflow 3's API does and answers the
status codes the modules must handle)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[3]
_LINKS = Path(tempfile.mkdtemp(prefix="fleetworks-collections-"))
(_LINKS / "ansible_collections" / "fleetworks").mkdir(parents=True)
os.symlink(ROOT, _LINKS / "ansible_collections" / "fleetworks" / "airflow")
sys.path.insert(0, str(_LINKS))

COLLECTIONS = {
    "connections": ("connection_id", "connections"),
    "variables": ("key", "variables"),
    "pools": ("name", "pools"),
}


class FakeAirflow:
    """What the stand-in holds and what it was asked."""

    def __init__(self):
        self.users = {"admin": "right-password"}
        self.tokens = set()
        self.store = {name: {} for name in COLLECTIONS}
        self.requests = []          # (method, path)
        self.fail_next = []         # statuses to answer before serving normally
        self.dags = {}
        self.import_errors = []     # as the API lists them
        self.reparsed = []
        self.profiles = {}          # FAB users without their passwords
        self.patched_masks = []
        self.dag_runs = []          # every DAG's runs, as GET /api/v2/dags/~/dagRuns lists them

    def masked(self, kind, item):
        item = dict(item)
        if kind == "connections" and item.get("password") is not None:
            item["password"] = "***"
        if kind == "variables" and "secret" in item["key"]:
            item["value"] = "***"
        return item


def make_handler(fake):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, body=None):
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self):
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length)) if length else None

        def handle_any(self, method):
            url = urlparse(self.path)
            fake.requests.append((method, url.path))
            body = self.body()
            if fake.fail_next:
                return self.answer(fake.fail_next.pop(0), {"detail": "stand-in failure"})
            if url.path == "/auth/token" and method == "POST":
                if fake.users.get(body["username"]) != body["password"]:
                    return self.answer(401, {"detail": "Invalid credentials"})
                token = "token-%d" % len(fake.requests)
                fake.tokens.add(token)
                return self.answer(201, {"access_token": token})
            if url.path == "/api/v2/monitor/health":
                return self.answer(200, {"metadatabase": {"status": "healthy"}})
            if self.headers.get("Authorization", "").removeprefix("Bearer ") not in fake.tokens:
                return self.answer(401, {"detail": "Not authenticated"})
            if url.path.startswith("/auth/fab/v1/users"):
                return self.fab_users(method, url, body)
            parts = [unquote(p) for p in url.path.split("/")[3:]]
            if parts[0] == "dags" and parts[1:] == ["~", "dagRuns"] and method == "GET":
                query = parse_qs(url.query)
                offset, limit = int(query.get("offset", ["0"])[0]), int(query.get("limit", ["100"])[0])
                runs = [run for run in fake.dag_runs if not query.get("state") or run["state"] in query["state"]]
                return self.answer(200, {"dag_runs": runs[offset:offset + limit], "total_entries": len(runs)})
            if parts[0] == "dags" and method == "GET":
                query = parse_qs(url.query)
                offset, limit = int(query.get("offset", ["0"])[0]), int(query.get("limit", ["100"])[0])
                dags = [fake.dags[d] for d in sorted(fake.dags)]
                return self.answer(200, {"dags": dags[offset:offset + limit], "total_entries": len(dags)})
            if parts[0] == "importErrors" and method == "GET":
                query = parse_qs(url.query)
                offset, limit = int(query.get("offset", ["0"])[0]), int(query.get("limit", ["100"])[0])
                return self.answer(200, {"import_errors": fake.import_errors[offset:offset + limit],
                                         "total_entries": len(fake.import_errors)})
            if parts[0] == "parseDagFile" and method == "PUT":
                fake.reparsed.append(parts[1])
                return self.answer(201 if parts[1] != "gone" else 404, None)
            kind = parts[0]
            if kind not in COLLECTIONS:
                return self.answer(404, {"detail": "no such endpoint"})
            id_field = COLLECTIONS[kind][0]
            store = fake.store[kind]
            if len(parts) == 1 and method == "POST":
                if body[id_field] in store:
                    return self.answer(409, {"detail": "already exists"})
                store[body[id_field]] = body
                return self.answer(201, fake.masked(kind, body))
            resource_id = parts[1]
            if resource_id not in store:
                return self.answer(404, {"detail": "%s not found" % resource_id})
            if method == "GET":
                return self.answer(200, fake.masked(kind, store[resource_id]))
            if method == "PATCH":
                store[resource_id] = dict(store[resource_id], **body)
                return self.answer(200, fake.masked(kind, store[resource_id]))
            if method == "DELETE":
                del store[resource_id]
                return self.answer(204)
            return self.answer(405, {"detail": [{"loc": ["body", "x"], "msg": "method not allowed"}]})

        def fab_users(self, method, url, body):
            """The FAB auth manager's users: the password is write-only, login checks it."""
            parts = [unquote(p) for p in url.path.split("/")[5:]]
            profiles = fake.profiles
            if not parts and method == "POST":
                fake.users[body["username"]] = body.pop("password")
                profiles[body["username"]] = body
                return self.answer(201, body)
            name = parts[0]
            if name not in profiles:
                return self.answer(404, {"detail": "user not found"})
            if method == "GET":
                return self.answer(200, dict(profiles[name], active=True))
            if method == "PATCH":
                mask = parse_qs(url.query).get("update_mask", [""])[0].split(",")
                fake.patched_masks.append(sorted(mask))
                if "password" in body:
                    fake.users[name] = body.pop("password")
                profiles[name] = dict(profiles[name], **body)
                return self.answer(200, profiles[name])
            if method == "DELETE":
                del profiles[name]
                fake.users.pop(name, None)
                return self.answer(204)
            return self.answer(405, {"detail": "no"})

        def do_GET(self):
            self.handle_any("GET")

        def do_POST(self):
            self.handle_any("POST")

        def do_PATCH(self):
            self.handle_any("PATCH")

        def do_PUT(self):
            self.handle_any("PUT")

        def do_DELETE(self):
            self.handle_any("DELETE")

    return Handler


@pytest.fixture
def airflow():
    """A running stand-in: yields (fake, base_url)."""
    fake = FakeAirflow()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(fake))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield fake, "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


def run_module(module, args, check_mode=False, diff=False):
    """Run a module's main() with args; its result dict (``failed`` set on fail_json)."""
    from ansible.module_utils.testing import patch_module_args

    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    captured = {}

    def finish(status):
        def record(self, **result):
            captured.update(result)
            if status:
                captured["failed"] = True
            raise SystemExit(status)
        return record

    from ansible.module_utils import basic

    with patch_module_args(args), \
            pytest.MonkeyPatch.context() as patch:
        patch.setattr(basic.AnsibleModule, "exit_json", finish(0))
        patch.setattr(basic.AnsibleModule, "fail_json", finish(1))
        with pytest.raises(SystemExit):
            module.main()
    return captured
