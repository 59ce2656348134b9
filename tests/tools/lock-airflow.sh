#!/usr/bin/env bash
# Write the pinned constraints and the config schema the airflow role ships for one Airflow
# release, from PyPI:
#   tests/tools/lock-airflow.sh 3.3.2
# writes roles/airflow/files/constraints-<version>.txt (a universal lock for CPython 3.11+, uv)
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
uv pip compile --quiet --universal --python-version 3.11 --no-header "$work/airflow.in" -o "$work/lock.txt"
{
  echo "# Pinned constraints for apache-airflow[$extras]==$version on CPython 3.11 and newer."
  echo "# Written by tests/tools/lock-airflow.sh $version (uv pip compile --universal --python-version 3.11)"
  echo "# from apache-airflow[$extras]==$version and celery[redis]==$celery; celery is held there"
  echo "# because celery 5.7.0 breaks apache-airflow-providers-celery 3.26.0."
  cat "$work/lock.txt"
} > "$files/constraints-$version.txt"
uv venv --quiet --python python3.11 "$work/venv"
uv pip install --quiet --python "$work/venv/bin/python" --constraints "$files/constraints-$version.txt" \
  "apache-airflow[$extras]==$version"
python tests/tools/airflow_config_schema.py "$work/venv/bin/python" "$files/config-$version.json"
echo "wrote $files/constraints-$version.txt and $files/config-$version.json"
