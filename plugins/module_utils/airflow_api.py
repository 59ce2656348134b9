# Copyright: Fleetworks engineers
# Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0)
"""The one client of the Airflow 3 REST API in this collection.

It logs in (``POST /auth/token``), retries what is worth retrying (a refused
connection while an API server restarts, 502/503/504 from a load balancer),
logs in again once when a token expires, and turns error answers into
:class:`AirflowApiError` with the status and Airflow's own ``detail``.

Standard library only: the modules ship it to hosts inside their AnsiballZ
payload, and the tests and demo scripts import it on the controller.
"""

import base64
import json
import ssl
import time

from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode
from urllib.request import Request, build_opener, HTTPSHandler

RETRY_STATUSES = (502, 503, 504)

# The options every module that talks to the API shares (module argument spec).
API_ARGUMENT_SPEC = dict(
    api_url=dict(type="str", default="http://127.0.0.1:8080"),
    api_username=dict(type="str", default="admin"),
    api_password=dict(type="str", required=True, no_log=True),
    api_timeout=dict(type="float", default=15),
    api_retries=dict(type="int", default=5),
    ca_path=dict(type="path"),
    validate_certs=dict(type="bool", default=True),
)


class AirflowApiError(Exception):
    """An answer the caller did not expect, or no answer at all (status 0)."""

    def __init__(self, message, status=0, detail=None):
        super().__init__(message)
        self.status = status
        self.detail = detail


def quote_id(value):
    """One path segment of a resource id (``/`` and every other reserved character escaped)."""
    return quote(str(value), safe="")


def error_detail(body):
    """Airflow's explanation in an error body: FastAPI's ``detail`` (a string, or a list of
    validation errors), else the body itself, shortened."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:300]
    detail = data.get("detail", data) if isinstance(data, dict) else data
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                where = ".".join(str(part) for part in item.get("loc", []))
                parts.append("%s: %s" % (where, item.get("msg", item)) if where else str(item.get("msg", item)))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    if isinstance(detail, dict):
        return json.dumps(detail, sort_keys=True)[:300]
    return str(detail)[:300]


class AirflowApi:
    """A client of one Airflow API server, logged in as one user.

    ``sleep`` and ``opener`` are there for the unit tests.
    """

    def __init__(self, base_url, username, password, timeout=15.0, retries=5, ca_path=None,
                 validate_certs=True, sleep=time.sleep, opener=None):
        self.base = base_url.rstrip("/")
        self.username = username
        self._password = password
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self._sleep = sleep
        self._token = None
        if opener is None:
            context = ssl.create_default_context(cafile=ca_path) if ca_path else ssl.create_default_context()
            if not validate_certs:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            opener = build_opener(HTTPSHandler(context=context))
        self._opener = opener

    @classmethod
    def from_module(cls, module):
        """A client from the shared API options of an AnsibleModule."""
        params = module.params
        return cls(params["api_url"], params["api_username"], params["api_password"], timeout=params["api_timeout"],
                   retries=params["api_retries"], ca_path=params.get("ca_path"),
                   validate_certs=params.get("validate_certs", True))

    # -- transport -----------------------------------------------------------------------------

    def _send(self, method, path, body=None, params=None, headers=None):
        """(status, text) of one request, retried on no answer or a gateway error."""
        url = self.base + path
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params, doseq=True)
        data = json.dumps(body).encode() if body is not None else None
        attempt = 0
        while True:
            request = Request(url, data=data, method=method)
            request.add_header("Accept", "application/json")
            if data is not None:
                request.add_header("Content-Type", "application/json")
            for name, value in (headers or {}).items():
                request.add_header(name, value)
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    return response.status, response.read().decode("utf-8", "replace")
            except HTTPError as error:
                status, text = error.code, error.read().decode("utf-8", "replace")
                if status not in RETRY_STATUSES or attempt >= self.retries:
                    return status, text
            except (URLError, OSError) as error:
                if attempt >= self.retries:
                    reason = getattr(error, "reason", error)
                    raise AirflowApiError("%s %s: no answer from %s (%s)" % (method, path, self.base, reason))
            attempt += 1
            self._sleep(min(2.0 ** (attempt - 1) * 0.5, 8.0))

    def login(self):
        """Get a token for the user (a wrong password is an error naming the user, never the password)."""
        status, text = self._send("POST", "/auth/token", {"username": self.username, "password": self._password})
        if status not in (200, 201):
            message = "login to %s as %s failed: HTTP %s %s" % (self.base, self.username, status, error_detail(text))
            raise AirflowApiError(message, status)
        self._token = json.loads(text)["access_token"]
        return self._token

    def request(self, method, path, body=None, params=None, expect=(200,), missing_ok=False):
        """The decoded JSON answer (``{}`` for an empty one), or None for a 404 when missing_ok."""
        if self._token is None:
            self.login()
        relogged = False
        while True:
            status, text = self._send(method, path, body, params, {"Authorization": "Bearer " + self._token})
            if status == 401 and not relogged:
                relogged = True
                self.login()
                continue
            break
        if status == 404 and missing_ok:
            return None
        if status not in expect:
            raise AirflowApiError("%s %s: HTTP %s %s" % (method, path, status, error_detail(text)), status,
                                  error_detail(text))
        return json.loads(text) if text.strip() else {}

    def get(self, path, params=None, missing_ok=False):
        return self.request("GET", path, params=params, missing_ok=missing_ok)

    def post(self, path, body, expect=(200, 201)):
        return self.request("POST", path, body=body, expect=expect)

    def patch(self, path, body, params=None):
        return self.request("PATCH", path, body=body, params=params)

    def put(self, path, body=None, expect=(200, 201, 204), missing_ok=False):
        return self.request("PUT", path, body=body, expect=expect, missing_ok=missing_ok)

    def delete(self, path, missing_ok=True):
        return self.request("DELETE", path, expect=(200, 204), missing_ok=missing_ok)

    def collect(self, path, key, params=None, page=100):
        """Every item of a paginated collection (``total_entries`` and ``offset``/``limit``)."""
        items, offset = [], 0
        while True:
            answer = self.get(path, params=dict(params or {}, limit=page, offset=offset))
            batch = answer.get(key, [])
            items.extend(batch)
            offset += len(batch)
            if not batch or offset >= answer.get("total_entries", 0):
                return items

    # -- what several callers need ---------------------------------------------------------------

    def dags(self, **params):
        """The DAGs the API offers, by id (stale ones left out unless asked for)."""
        params.setdefault("exclude_stale", "true")
        return {dag["dag_id"]: dag for dag in self.collect("/api/v2/dags", "dags", params=params)}

    def health(self):
        """The API server's health answer (no login needed)."""
        status, text = self._send("GET", "/api/v2/monitor/health")
        if status != 200:
            raise AirflowApiError("GET /api/v2/monitor/health: HTTP %s %s" % (status, error_detail(text)), status)
        return json.loads(text)


def basic_auth_header(credentials):
    """The Authorization header value for ``user:password`` (Flower's basic auth)."""
    return "Basic " + base64.b64encode(credentials.encode()).decode()
