#!/usr/bin/python
# Copyright: Fleetworks engineers
# Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0)

DOCUMENTATION = r"""
module: airflow_status_report
short_description: Put what M(fleetworks.airflow.airflow_status) saw on each host of a fleet into one table
description:
  - Runs on the controller (C(playbooks/status.yml)). From each host's look it writes the fleet's status table
    (per unit its state, restarts and health answer; per host the Airflow version, virtualenv, DAG release, clock
    offset and whether it reaches the DB and broker; per worker its queues; for the fleet the DB schema, the
    schedulers' heartbeats and the DAG import errors) and the list of problems, each naming the host and the
    command that shows more.
  - Clock offsets are from the metadata DB server's clock, the fleet's reference. A host that does not reach the
    DB is placed through the broker (its offset from Redis plus Redis' offset from the DB, as the hosts that reach
    both see it).
version_added: 0.3.0
author: Fleetworks engineers (@fleetworks)
extends_documentation_fragment:
  - fleetworks.airflow.read_only
options:
  hosts:
    description:
      - Per inventory host, C(groups) (its fleet groups), and what was seen there, C(airflow), C(postgresql) and
        C(redis) (results of M(fleetworks.airflow.airflow_status), C(airflow) with C(health) and C(components)
        added), or C(error) when the host could not be looked at.
    type: dict
    required: true
  db_host:
    description: The inventory host the metadata DB runs on; empty for a managed DB (RDS).
    type: str
    default: ''
  redis_host:
    description: The inventory host the broker runs on; empty for a managed broker (ElastiCache).
    type: str
    default: ''
  max_clock_offset:
    description: Seconds a host's clock may be off the metadata DB's before it is a problem.
    type: float
    default: 2.0
  scheduler_threshold:
    description: Seconds since a scheduler's last heartbeat after which it counts as gone.
    type: float
    default: 30
"""

EXAMPLES = r"""
- name: Write the fleet's status table
  fleetworks.airflow.airflow_status_report:
    hosts: "{{ looks }}"
    db_host: db1
    redis_host: db1
  delegate_to: localhost
  run_once: true
  register: report
"""

RETURN = r"""
lines:
  description: The table and the fleet's summary, line by line.
  returned: always
  type: list
  elements: str
problems:
  description: Each problem, naming the host and what to run there to see more; empty when all is well.
  returned: always
  type: list
  elements: str
"""

from statistics import median

from ansible.module_utils.basic import AnsibleModule

FLEET_GROUPS = ["airflow_postgresql", "airflow_redis", "airflow_api_servers", "airflow_schedulers",
                "airflow_dag_processors", "airflow_triggerers", "airflow_workers", "airflow_flower"]
COMPONENT_OF_UNIT = {"airflow-" + c.replace("_", "-"): c
                     for c in ("api_server", "scheduler", "dag_processor", "triggerer", "worker", "flower")}


def table(rows):
    """Left-aligned columns, two spaces apart."""
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def age(seconds):
    if seconds is None:
        return "?"
    seconds = int(seconds)
    if seconds < 120:
        return "%ds" % seconds
    if seconds < 7200:
        return "%dm" % (seconds // 60)
    if seconds < 172800:
        return "%dh %02dm" % (seconds // 3600, seconds % 3600 // 60)
    return "%dd" % (seconds // 86400)


def journal(unit, host):
    return "journalctl -u %s -n 50 --no-pager (on %s)" % (unit, host)


def redis_offset(looks):
    """Redis' clock minus the DB's, from the hosts that reached both: (host - DB) - (host - Redis)."""
    pairs = [look["db"]["offset"] - look["broker"]["offset"] for look in looks.values()
             if look.get("db", {}).get("ok") and look.get("broker", {}).get("ok")]
    return median(pairs) if pairs else None


def clock(host, look, redis_vs_db, db_host, redis_host):
    """(offset from the DB's clock, how it was measured) or (None, why not). Without a host of the run
    that reaches both the DB and Redis (a --limit run of workers), the offset from Redis' clock."""
    if look.get("db", {}).get("ok"):
        return look["db"]["offset"], "vs DB"
    if look.get("broker", {}).get("ok") and redis_vs_db is not None:
        return look["broker"]["offset"] + redis_vs_db, "via Redis"
    if look.get("broker", {}).get("ok"):
        return look["broker"]["offset"], "vs Redis"
    if host == db_host:
        return 0.0, "DB host"
    if host == redis_host and redis_vs_db is not None:
        return redis_vs_db, "Redis host"
    return None, "not measured"


def unit_rows(host, look, problems):
    """Rows [host, unit, state, restarts, health] (short enough for an 80-column terminal: the health
    probe's full answer goes with the problem it makes)."""
    rows = []
    health = look.get("health", {})
    worker = look.get("worker", {})
    for unit, state in sorted(look.get("units", {}).items()):
        component = COMPONENT_OF_UNIT.get(unit)
        running = state["active"] == "active"
        if component == "worker":
            healthy = bool(worker.get("ok"))
            answer, seen = ("online (%s)" % ",".join(worker.get("queues", [])), "") if healthy else \
                ("NO ANSWER", "no Celery answer: %s" % worker.get("error", ""))
        elif component in health:
            healthy = bool(health[component].get("healthy"))
            answer, seen = "healthy" if healthy else "UNHEALTHY", health[component].get("seen", "")
        else:
            healthy, answer, seen = running, "-", ""
        rows.append([host, unit, "%s/%s" % (state["active"], state["sub"]),
                     "-" if state["restarts"] is None else state["restarts"], answer])
        if not running:
            problems.append("%s on %s is %s/%s: %s" % (unit, host, state["active"], state["sub"] or "-", journal(unit, host)))
        elif not healthy:
            problems.append("%s on %s runs but is not healthy (%s): %s" % (unit, host, seen[:160], journal(unit, host)))
    return rows


def build(hosts, db_host="", redis_host="", max_clock_offset=2.0, scheduler_threshold=30.0):
    """(lines, problems) of the fleet's status."""
    problems = []
    looks = {host: entry.get("airflow") or {} for host, entry in hosts.items()}
    redis_vs_db = redis_offset(looks)
    unit_table = [["HOST", "UNIT", "STATE", "RESTARTS", "HEALTH"]]
    host_table = [["HOST", "AIRFLOW", "DAG RELEASE", "AGE", "CLOCK", "MEASURED", "DB", "BROKER"]]
    venvs = {}
    fleet = {}
    for host in sorted(hosts):
        entry = hosts[host]
        if entry.get("error"):
            unit_table.append([host, "-", "NOT LOOKED AT", "-", "-"])
            problems.append("%s could not be looked at: %s" % (host, entry["error"][:400]))
        for kind in ("postgresql", "redis", "airflow"):
            if entry.get(kind):
                unit_table += unit_rows(host, entry[kind], problems)
        look = looks[host]
        fleet = fleet or look.get("fleet") or {}
        offset, how = clock(host, look, redis_vs_db, db_host, redis_host)
        if offset is not None and abs(offset) - (look.get("db") or look.get("broker") or {}).get("error_bar", 0) > max_clock_offset:
            problems.append("%s's clock is %+.1f s off the metadata DB's (more than %s s; tokens between hosts fail): "
                            "timedatectl status; chronyc tracking (on %s)" % (host, offset, max_clock_offset, host))
        db, broker = look.get("db", {}), look.get("broker", {})
        if db and not db.get("ok"):
            problems.append("%s cannot reach the metadata DB (%s): airflow db check (on %s)" % (host, db.get("error"), host))
        if broker and not broker.get("ok"):
            problems.append("%s cannot reach the broker (%s): %s" % (
                host, broker.get("error"), journal("redis-server", redis_host) if redis_host else "check the broker URL"))
        airflow = look.get("airflow", {})
        dags = look.get("dags", {})
        if airflow.get("venv"):
            venvs.setdefault(airflow["venv"], []).append(host)
        if look or entry.get("postgresql") or entry.get("redis"):
            host_table.append([
                host, airflow.get("version") or "-", dags.get("release") or "-",
                age(dags.get("age")) if dags.get("release") else "-",
                "?" if offset is None else "%+.3fs" % offset, how,
                ("ok" if db.get("ok") else "NO") if db else "-",
                ("ok" if broker.get("ok") else "NO") if broker else "-"])
    lines = table(unit_table) + [""] + table(host_table)
    lines += ["Virtualenv %s on %s" % (venv, ", ".join(names)) for venv, names in sorted(venvs.items())] + [""]
    lines += fleet_lines(hosts, fleet, scheduler_threshold, problems)
    lines.append("%d problem(s), each named below with what shows more." % len(problems) if problems else "No problem.")
    return lines, problems


def fleet_lines(hosts, fleet, scheduler_threshold, problems):
    processors = sorted(h for h, e in hosts.items() if "airflow_dag_processors" in e.get("groups", []))
    if not fleet:
        return ["The fleet-wide facts were not read (no host of this run reaches the metadata DB)."]
    lines = []
    if fleet["migration_pending"]:
        lines.append("Metadata DB schema NEEDS MIGRATING (DB at %s, the installed Airflow needs %s)."
                     % (",".join(fleet["db_revisions"]) or "nothing", ",".join(fleet["heads"])))
        problems.append("The metadata DB needs migrating (DB at %s, Airflow needs %s): ansible-playbook playbooks/site.yml"
                        % (",".join(fleet["db_revisions"]) or "nothing", ",".join(fleet["heads"])))
    else:
        lines.append("Metadata DB schema up to date (%s)" % ",".join(fleet["heads"]))
    beats = fleet.get("schedulers", {})
    lines.append("Scheduler heartbeats " + (", ".join("%s %.0fs ago" % (h, a) for h, a in sorted(beats.items())) or "none"))
    for host, entry in sorted(hosts.items()):
        if "airflow_schedulers" not in entry.get("groups", []) or entry.get("error"):
            continue
        ages = [a for name, a in beats.items() if name.split(".")[0] == host.split(".")[0]]
        if not ages or min(ages) > scheduler_threshold:
            problems.append("The scheduler on %s has no heartbeat in the last %.0f s: %s"
                            % (host, scheduler_threshold, journal("airflow-scheduler", host)))
    errors = fleet.get("import_errors", {"count": 0, "files": []})
    lines.append("DAG import errors %d%s" % (errors["count"], (" (" + ", ".join(errors["files"]) + ")") if errors["files"] else ""))
    if errors["count"]:
        problems.append("%d DAG file(s) fail to import (%s): airflow dags list-import-errors (on %s)"
                        % (errors["count"], ", ".join(errors["files"]), processors[0] if processors else "a DAG processor host"))
    return lines


def main():
    module = AnsibleModule(
        argument_spec=dict(
            hosts=dict(type="dict", required=True),
            db_host=dict(type="str", default=""),
            redis_host=dict(type="str", default=""),
            max_clock_offset=dict(type="float", default=2.0),
            scheduler_threshold=dict(type="float", default=30),
        ),
        supports_check_mode=True,
    )
    params = module.params
    lines, problems = build(params["hosts"], params["db_host"], params["redis_host"],
                            params["max_clock_offset"], params["scheduler_threshold"])
    module.exit_json(changed=False, lines=lines, problems=problems)


if __name__ == "__main__":
    main()
