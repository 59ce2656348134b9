#!/usr/bin/env bash
# Write the pinned constraints and the config schema the airflow role ships for one Airflow
# release, from PyPI:
#   tests/tools/lock-airflow.sh 3.3.2
# writes roles/airflow/files/constraints-<version>.txt (a universal lock for CPython 3.11+, uv,
# of what PyPI offered when that release was published, like Airflow's own constraints: a newer
# dependency can break an older release, e.g. pydantic 2.14 crashes Airflow 3.2.2's API server)
# and roles/airflow/files/config-<version>.json (tests/tools/airflow_config_schema.py, read off
# a throwaway virtualenv installed from that lock). Run from the checkout with .venv active.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
version=${1:?usage: lock-airflow.sh <airflow version>}
# celery is held at 5.6.3: celery 5.7.0 (what an unpinned resolve picks) breaks
# apache-airflow-providers-celery 3.26.0 ("cannot import name 'retry' from 'celery.backends.database'").
celery=5.6.3
extras=amazon,celery,fab,postgres,redis
files=roles/airflow/files
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'apache-airflow[%s]==%s\ncelery[redis]==%s\n' "$extras" "$version" "$celery" > "$work/airflow.in"
# When PyPI received the release's wheel (PEP 700 upload-time of the simple index), plus a day.
published=$(curl -fsS -H 'Accept: application/vnd.pypi.simple.v1+json' https://pypi.org/simple/apache-airflow/ |
  python3 -c 'import json, sys; print(next(f["upload-time"] for f in json.load(sys.stdin)["files"]
    if f["filename"] == "apache_airflow-" + sys.argv[1] + "-py3-none-any.whl"))' "$version")
as_of=$(date -u -d "$published + 1 day" +%Y-%m-%dT%H:%M:%SZ)
uv pip compile --quiet --universal --python-version 3.11 --no-header --exclude-newer "$as_of" \
  "$work/airflow.in" -o "$work/lock.txt"
{
  echo "# Pinned constraints for apache-airflow[$extras]==$version on CPython 3.11 and newer."
  echo "# Written by tests/tools/lock-airflow.sh $version (uv pip compile --universal --python-version 3.11"
  echo "# --exclude-newer $as_of: what PyPI offered a day after the release was published)"
  echo "# from apache-airflow[$extras]==$version and celery[redis]==$celery; celery is held there"
  echo "# because celery 5.7.0 breaks apache-airflow-providers-celery 3.26.0."
  cat "$work/lock.txt"
} > "$files/constraints-$version.txt"
uv venv --quiet --python python3.11 "$work/venv"
uv pip install --quiet --exclude-newer "$as_of" --python "$work/venv/bin/python" --constraints "$files/constraints-$version.txt" \
  "apache-airflow[$extras]==$version"
python tests/tools/airflow_config_schema.py "$work/venv/bin/python" "$files/config-$version.json"
echo "wrote $files/constraints-$version.txt and $files/config-$version.json"
