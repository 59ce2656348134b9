# Copyright: Fleetworks engineers
# Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0)
"""The options of the modules that run Airflow's or Celery's CLI on a fleet host (health probes, status)."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  celery_hostname:
    description: The worker's Celery node name (C(celery@<host>)).
    type: str
  celery_app:
    description: The Celery application of Airflow's Celery executor.
    type: str
    default: airflow.providers.celery.executors.celery_executor.app
  cli_prefix:
    description:
      - Argv that runs a command with the host's Airflow environment as the Airflow user; C(airflow) and C(celery)
        commands run behind it (the roles install C(airflow-env)).
    type: list
    elements: str
    default: [/usr/local/sbin/airflow-env]
"""
