#!/usr/bin/python
# Copyright: Fleetworks engineers
# Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0)

DOCUMENTATION = r"""
module: airflow_health
short_description: Wait until this host's Airflow components are healthy, or report how they are
description:
  - Probes each named component on the host it runs on, the way that component proves it works
    (API server C(/api/v2/monitor/health) with its metadata DB status and its Execution API, the
    scheduler's health server, the DAG processor's and triggerer's job heartbeat, a Celery ping of the
    worker, Flower's C(/healthcheck)), and waits until every one is healthy.
  - The job heartbeats are read from the metadata DB when I(db_url) is given. Healthy is exactly one job
    of the type in state C(running) recorded by this host with its heartbeat younger than the type's
    threshold. That is C(airflow jobs check --local --limit 0), a little stricter than the command's
    default, which looks at the newest job only (after a C(kill -9) the old job stays C(running) until
    its heartbeat ages past the threshold). Without I(db_url) the command runs, which starts Airflow
    (seconds of CPU) on every try.
  - Fails at once for a component whose systemd unit failed, or was restarted by systemd while waiting
    (a crash loop is not worth waiting out); otherwise at I(timeout). With I(timeout=0) it looks once and
    reports, healthy or not, without failing (I(fail_unhealthy=false) does the same after a wait).
  - One call answers for all components of a host, probing them side by side.
version_added: 0.1.0
author: Fleetworks engineers (@fleetworks)
extends_documentation_fragment:
  - fleetworks.airflow.host_cli
options:
  components:
    description: The components to probe; each runs as the systemd unit C(airflow-<component with dashes>).
    type: list
    elements: str
    choices: [api_server, scheduler, dag_processor, triggerer, worker, flower]
    required: true
  timeout:
    description: Seconds to wait until all are healthy; C(0) looks once.
    type: float
    default: 120
  fail_unhealthy:
    description: Whether an unhealthy component fails the task.
    type: bool
    default: true
  api_port:
    description: The API server's port on this host.
    type: int
    default: 8080
  scheduler_health_port:
    description: The scheduler's health server port (C([scheduler] scheduler_health_check_server_port)).
    type: int
    default: 8974
  api_url:
    description:
      - Base URL of this host's API server, as the probe reaches it (its bind address, and C(https) when it serves TLS).
      - Default C(http://127.0.0.1:<api_port>).
    type: str
  flower_port:
    description: Flower's port.
    type: int
    default: 5555
  flower_url:
    description: Base URL of this host's Flower; default C(http://127.0.0.1:<flower_port>).
    type: str
  ca_file:
    description: CA bundle that HTTPS probes verify the certificate against; default the system's.
    type: path
  flower_basic_auth:
    description: Flower's C(user:password), for its health check.
    type: str
  db_url:
    description:
      - SQLAlchemy URL of the metadata DB, to read the job heartbeats of I(components) C(dag_processor) and
        C(triggerer) directly; the module must then run on the Airflow virtualenv's Python (its SQLAlchemy and
        DB driver).
      - Leave it out when C([core] hostname_callable) is not Airflow's default, as this reads the host's name
        the way that default does.
    type: str
  job_thresholds:
    description:
      - Seconds since its last heartbeat within which a job counts as alive, per component
        (C([dag_processor] health_check_threshold), C([triggerer] triggerer_health_check_threshold)).
    type: dict
    default: {dag_processor: 30, triggerer: 30}
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
    support: full
    details: It only looks.
  diff_mode:
    description: Reports the object before and after the change.
    support: none
notes:
  - Runs with any Python the host has when I(db_url) is not given; the CLI probes run inside the Airflow
    virtualenv through I(cli_prefix).
"""

EXAMPLES = r"""
- name: Wait until the control plane on this host is healthy
  fleetworks.airflow.airflow_health:
    components: [api_server, scheduler, dag_processor]
    timeout: 180

- name: How is every component of this host doing, right now
  fleetworks.airflow.airflow_health:
    components: [worker, flower]
    timeout: 0
    flower_basic_auth: "admin:{{ airflow_flower_password }}"
  register: health
"""

RETURN = r"""
components:
  description: Per component, its unit, whether it is healthy, what the probe saw, the unit's state and the seconds waited.
  returned: always
  type: dict
  sample: {"scheduler": {"unit": "airflow-scheduler", "healthy": true, "seen": "HTTP 200", "seconds": 3.1, "state": "active"}}
unhealthy:
  description: The components not healthy at the end.
  returned: always
  type: list
  elements: str
"""

import json
import socket
import time

from concurrent.futures import ThreadPoolExecutor

from urllib.error import HTTPError, URLError

from datetime import datetime, timezone

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from ansible_collections.fleetworks.airflow.plugins.module_utils.airflow_api import basic_auth_header
from ansible_collections.fleetworks.airflow.plugins.module_utils.airflow_db import db_connection

JOB_TYPES = {"dag_processor": "DagProcessorJob", "triggerer": "TriggererJob"}


def unit_of(component):
    return "airflow-" + component.replace("_", "-")


# The Execution API's first request initializes it (4-7 s of CPU on a busy 2-core host).
EXECUTION_API_WARMUP_TIMEOUT = 60


def host_name():
    """This host's name as Airflow's default [core] hostname_callable gives it (and so as its jobs
    record it): the canonical name the resolver gives for the host name, else the host name."""
    name = socket.gethostname()
    try:
        for entry in socket.getaddrinfo(name, None, 0, socket.SOCK_DGRAM, 0, socket.AI_CANONNAME):
            if entry[3]:
                return entry[3]
    except OSError:
        pass
    return name


def job_verdict(job_type, heartbeats, threshold, now):
    """(healthy, what was seen) from the heartbeats (aware datetimes) of this host's running jobs of
    the type: healthy when exactly one is younger than the threshold, as `airflow jobs check --local
    --limit 0` (the command's default looks at the newest job only)."""
    ages = [(now - beat).total_seconds() for beat in heartbeats if beat is not None]
    alive = [age for age in ages if age < threshold]
    if len(alive) == 1:
        return True, "one alive %s, heartbeat %.0fs ago" % (job_type, alive[0])
    if alive:
        return False, "%d alive %s jobs on this host, expected one" % (len(alive), job_type)
    if ages:
        return False, "no alive %s: last heartbeat %.0fs ago (threshold %ss)" % (job_type, min(ages), threshold)
    return False, "no running %s recorded by this host" % job_type


JOB_QUERY = ("SELECT latest_heartbeat FROM job WHERE job_type = :job_type AND state = 'running' "
             "AND hostname = :hostname ORDER BY latest_heartbeat DESC LIMIT 10")


def read_heartbeats(db_url, job_type, hostname, connect_timeout=10):
    """The heartbeats of this host's running jobs of the type, from the metadata DB (UTC, aware)."""
    import sqlalchemy

    with db_connection(db_url, connect_timeout) as conn:
        rows = conn.execute(sqlalchemy.text(JOB_QUERY), {"job_type": job_type, "hostname": hostname}).fetchall()
    return [row[0] if row[0] is None or row[0].tzinfo else row[0].replace(tzinfo=timezone.utc) for row in rows]


def http(url, auth=None, ca_path=None, timeout=5):
    """(status, body) of a GET; status 0 when nothing answered."""
    headers = {"Authorization": basic_auth_header(auth)} if auth else {}
    try:
        # The probes go to this host's own ports: never through a proxy.
        with open_url(url, headers=headers, timeout=timeout, use_proxy=False, ca_path=ca_path) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except HTTPError as error:
        return error.code, ""
    except (URLError, OSError) as error:
        return 0, str(getattr(error, "reason", error))


class Prober:
    def __init__(self, module, http_get=http, heartbeats=read_heartbeats, clock=lambda: datetime.now(timezone.utc)):
        self.module = module
        self.params = module.params
        self.http = http_get
        self.heartbeats = heartbeats
        self.now = clock
        self.hostname = host_name() if self.params.get("db_url") else None

    def job(self, component):
        """A DAG processor's or triggerer's job heartbeat: from the DB, or `airflow jobs check`."""
        job_type = JOB_TYPES[component]
        if not self.params.get("db_url"):
            return self.cli("airflow", "jobs", "check", "--job-type", job_type, "--local")
        try:
            beats = self.heartbeats(self.params["db_url"], job_type, self.hostname)
        except Exception as error:  # pylint: disable=broad-except  # a DB that does not answer yet is a probe's answer
            return False, "the metadata DB did not answer: %s" % str(error).splitlines()[0][:200]
        threshold = float((self.params.get("job_thresholds") or {}).get(component, 30))
        return job_verdict(job_type, beats, threshold, self.now())

    def base(self, url_param, port):
        """The configured base URL, or loopback plain HTTP on the port."""
        return (self.params.get(url_param) or "http://127.0.0.1:%d" % port).rstrip("/")

    def unit_state(self, unit):
        rc, out, err = self.module.run_command(["systemctl", "show", unit, "--property=ActiveState,NRestarts"])
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def cli(self, *argv):
        rc, out, err = self.module.run_command(list(self.params["cli_prefix"]) + list(argv))
        lines = (out + err).strip().splitlines()
        return rc == 0, lines[-1] if lines else ""

    def probe(self, component):
        """(healthy, what was seen)."""
        params = self.params
        if component == "api_server":
            base = self.base("api_url", params["api_port"])
            status, body = self.http(base + "/api/v2/monitor/health", ca_path=params.get("ca_file"))
            try:
                db = json.loads(body)["metadatabase"]["status"]
            except (ValueError, KeyError, TypeError):
                return False, "HTTP %s %s" % (status, body[:120])
            if db != "healthy":
                return False, "metadatabase %s" % db
            # The Execution API (what workers and triggerers call) builds its versioned routes on its
            # first request: seconds of CPU, longer than a task's 5 s client timeout on a busy host.
            # Asking for its health here pays that before the server counts as healthy.
            status, body = self.http(base + "/execution/health", ca_path=params.get("ca_file"),
                                     timeout=EXECUTION_API_WARMUP_TIMEOUT)
            if status != 200:
                return False, "metadatabase healthy, Execution API HTTP %s %s" % (status, body[:120])
            return True, "metadatabase healthy, Execution API healthy"
        if component == "scheduler":
            status, body = self.http("http://127.0.0.1:%d/health" % params["scheduler_health_port"])
            return status == 200, "HTTP %s %s" % (status, body[:120])
        if component in JOB_TYPES:
            return self.job(component)
        if component == "worker":
            node = params["celery_hostname"] or "celery@" + socket.gethostname()
            return self.cli("celery", "--app", params["celery_app"], "inspect", "ping", "--timeout", "5",
                            "--destination", node)
        status, body = self.http(self.base("flower_url", params["flower_port"]) + "/healthcheck",
                                 params["flower_basic_auth"], ca_path=params.get("ca_file"))
        return status == 200 and body.strip() == "OK", "HTTP %s %s" % (status, body[:60])


def wait(prober, components, timeout, clock=time.monotonic, sleep=time.sleep):
    """Per component {unit, healthy, seen, state, seconds}; a crash ends the wait for that component.

    Each round probes the pending components side by side (the CLI probes each start a Python
    that imports Airflow: seconds of CPU that need not add up)."""
    start = clock()
    first = {name: prober.unit_state(unit_of(name)) for name in components}
    report = {name: dict(unit=unit_of(name), healthy=False, seen="", state="") for name in components}
    pending = list(components)
    with ThreadPoolExecutor(max_workers=max(1, len(components))) as pool:
        while pending:
            probing = []
            for name in list(pending):
                entry = report[name]
                state = prober.unit_state(entry["unit"])
                entry["state"] = state.get("ActiveState", "")
                if entry["state"] == "failed":
                    entry["seen"] = "%s has failed (systemd ActiveState=failed); last probe: %s" % (entry["unit"], entry["seen"])
                    pending.remove(name)
                    continue
                if int(state.get("NRestarts", 0) or 0) > int(first[name].get("NRestarts", 0) or 0):
                    entry["seen"] = ("%s crashed and was restarted by systemd while waiting (NRestarts=%s); last probe: %s"
                                     % (entry["unit"], state.get("NRestarts"), entry["seen"]))
                    pending.remove(name)
                    continue
                probing.append(name)
            futures = [(name, pool.submit(prober.probe, name)) for name in probing]
            for name, future in futures:
                entry = report[name]
                entry["healthy"], entry["seen"] = future.result()
                entry["seconds"] = round(clock() - start, 1)
                if entry["healthy"]:
                    pending.remove(name)
            if not pending or clock() - start >= timeout:
                break
            sleep(2)
    return report


def main():
    module = AnsibleModule(
        argument_spec=dict(
            components=dict(type="list", elements="str", required=True,
                            choices=["api_server", "scheduler", "dag_processor", "triggerer", "worker", "flower"]),
            timeout=dict(type="float", default=120),
            fail_unhealthy=dict(type="bool", default=True),
            api_port=dict(type="int", default=8080),
            scheduler_health_port=dict(type="int", default=8974),
            api_url=dict(type="str"),
            flower_port=dict(type="int", default=5555),
            flower_url=dict(type="str"),
            ca_file=dict(type="path"),
            flower_basic_auth=dict(type="str", no_log=True),
            celery_hostname=dict(type="str"),
            celery_app=dict(type="str", default="airflow.providers.celery.executors.celery_executor.app"),
            cli_prefix=dict(type="list", elements="str", default=["/usr/local/sbin/airflow-env"]),
            db_url=dict(type="str", no_log=True),
            job_thresholds=dict(type="dict", default={"dag_processor": 30, "triggerer": 30}),
        ),
        supports_check_mode=True,
    )
    params = module.params
    report = wait(Prober(module), params["components"], params["timeout"])
    unhealthy = sorted(name for name, entry in report.items() if not entry["healthy"])
    if unhealthy and params["fail_unhealthy"] and params["timeout"] > 0:
        host = socket.gethostname()
        message = "; ".join("%s on %s is not healthy: %s" % (report[name]["unit"], host, report[name]["seen"])
                            for name in unhealthy)
        module.fail_json(msg=message, components=report, unhealthy=unhealthy)
    module.exit_json(changed=False, components=report, unhealthy=unhealthy)


if __name__ == "__main__":
    main()
