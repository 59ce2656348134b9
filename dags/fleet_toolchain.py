"""The toolchain a worker gives its tasks: what Airflow's own images provide.

Each task reports what it ran with, so a caller can check a worker offers
tasks the same tools as Airflow's images do:

- ``in_a_virtualenv``: ``@task.virtualenv`` builds a fresh virtualenv with its
  own ``requirements`` from the fleet's package index, CA bundle and
  constraints (the Airflow lock), and reports the version it got.
- ``in_an_external_python``: ``@task.external_python`` runs in another
  interpreter (the host's system Python here).
- ``python_and_airflow_on_path``: a ``BashOperator`` that finds ``python``,
  ``pip`` and ``airflow`` by name in this release's virtualenv, and asks that
  ``python`` which Airflow it holds.

Inside a task, Airflow 3 blanks the metadata DB URL (the task supervisor sets it
to ``airflow-db-not-allowed:///``), so ``airflow`` CLI commands and ``import
airflow`` in a task's subprocess fail by design, on this fleet as in Airflow's
own images: tasks talk to Airflow through the Task SDK, not the CLI.
"""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import dag, task


@dag(
    dag_id="fleet_toolchain",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["fleet", "test"],
)
def fleet_toolchain():
    # celery is in the Airflow lock at an older release than the index's newest,
    # so the version reported shows whether the constraints were applied.
    @task.virtualenv(requirements=["celery"], system_site_packages=False, expect_airflow=False)
    def in_a_virtualenv() -> dict:
        import socket
        import sys

        import celery

        return {"host": socket.gethostname(), "prefix": sys.prefix, "celery": celery.__version__}

    @task.external_python(python="/usr/bin/python3", expect_airflow=False)
    def in_an_external_python() -> dict:
        import socket
        import sys

        return {"host": socket.gethostname(), "executable": sys.executable}

    BashOperator(
        task_id="python_and_airflow_on_path",
        bash_command=(
            'echo "$(command -v python) $(command -v pip) $(command -v airflow)'
            " $(python -c 'import importlib.metadata as m; print(m.version(\"apache-airflow\"))')\""
        ),
    )

    in_a_virtualenv()
    in_an_external_python()


fleet_toolchain()
