"""Orders CSV in S3 -> typed JSON in S3 -> DynamoDB, working as another AWS account.

**Cross-account.** No credential, region or endpoint is written here. Every
task builds its boto3 clients through the Amazon provider's hooks
(``AwsBaseHook`` / ``S3Hook`` / ``DynamoDBHook``) from one Airflow connection,
``aws_conn_id`` (param, default ``aws_pipeline``). The connection's login and
password (or the worker's default AWS credentials when empty) are the
*source* identity; its extra names the role to become in the *target* account,
and the hook calls ``sts:AssumeRole`` and signs every request with the
temporary credentials (refreshed when they expire). Connection extra::

    {
      "role_arn": "arn:aws:iam::222222222222:role/PipelineWriter",
      "region_name": "eu-west-1",
      "endpoint_url": "http://moto.example:5000",
      "service_config": {"sts": {"endpoint_url": "http://moto.example:5000"}}
    }

``endpoint_url`` and ``service_config`` are only for an S3/DynamoDB/STS
look-alike (moto, LocalStack); omit both on real AWS. The provider never sends
the AssumeRole call to the global ``endpoint_url``: it goes to
``service_config.sts.endpoint_url`` or to AWS's own STS. The ``whoami`` task
returns the ARN the tasks run as, e.g.
``arn:aws:sts::222222222222:assumed-role/PipelineWriter/airflow_aws_pipeline`` (the
provider names the session ``Airflow_<conn id>``, slugified to lower case; set
``"assume_role_kwargs": {"RoleSessionName": ...}`` in the extra to change it).

**Tasks.** ``whoami`` -> ``extract_transform`` (CSV -> validated typed JSON at a
staging key) -> ``publish`` (copy over the final JSON key) -> ``load`` (upsert
into the table, BatchWriteItem of 25 with retries of unprocessed items) ->
``cleanup`` (delete the staging object). ``cleanup`` is a *teardown* of
``whoami`` and ``extract_transform``: it runs once everything upstream is done,
failed or not (Airflow's ``all_done_setup_success`` rule), and, unlike a plain
``all_done`` leaf, does not turn a failed run into a successful one.

**Idempotent.** Celery may run a task more than once (late acks, redelivery) and
runs may be cleared. Object keys derive only from the source key, itself from
the run's date (no random names, no run id); every write overwrites a whole
object with the same bytes; items are upserts keyed by ``order_id``; deleting
a missing object is a no-op. Running the same date twice, or any task twice,
leaves the same S3 objects and the same items. Rows removed from a CSV are
not deleted from the table (upsert, not sync). ``max_active_runs=1`` keeps two
runs of the same date from interleaving.

**Bad rows.** ``extract_transform`` validates *every* row before writing
anything; any bad row fails the task at once (no retries: the file will not fix
itself) with every line number and reason, so a file is published and loaded
entirely or not at all. Bad params or conf fail the same way.

**Params** (override any of them with the trigger conf): ``bucket``,
``source_key`` (``{ds}``/``{ds_nodash}`` filled in with the run's date: the
``date`` param if given, else the logical date, else the run's ``run_after``,
in UTC), ``json_prefix``, ``table``, ``aws_conn_id``, ``date`` (YYYY-MM-DD).
For ``incoming/2025-01-02/orders.csv`` the JSON is
``json/incoming/2025-01-02/orders.json`` and the staging object
``staging/json/incoming/2025-01-02/orders.json``. Trigger, e.g.:
``POST /api/v2/dags/s3_csv_to_dynamodb/dagRuns`` with
``{"logical_date": "2025-01-02T00:00:00Z"}`` or
``{"logical_date": null, "conf": {"date": "2025-01-02"}}``.

**XCom.** ``whoami`` returns the ARN (a string). The other tasks return a
summary dict, also pushed key by key (``multiple_outputs``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, chain, dag, get_current_context, task

from aws_pipeline import orders, steps

DAG_ID = "s3_csv_to_dynamodb"


def _run_config() -> orders.RunConfig:
    """This run's bucket, keys, table and connection, from the task context.

    Airflow already merges the trigger conf into ``params`` (``[core]
    dag_run_conf_overrides_params``, on by default); ``dag_run.conf`` is
    merged again so the conf wins even where that setting is off.
    """
    context = get_current_context()
    dag_run = context["dag_run"]
    return orders.resolve_run_config(
        params=context["params"],
        conf=dag_run.conf,
        logical_date=dag_run.logical_date,
        run_after=dag_run.run_after,
    )


@contextmanager
def _bad_input_fails_without_retry() -> Iterator[None]:
    """Invalid CSV rows, JSON or params will not fix themselves: fail at once, no retries."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        yield
    except (orders.InvalidCsvError, orders.InvalidItemsError, orders.InvalidRunConfigError) as exc:
        raise AirflowFailException(str(exc)) from exc


def _s3(conn_id: str) -> Any:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=conn_id).get_conn()


def _dynamodb(conn_id: str) -> Any:
    from airflow.providers.amazon.aws.hooks.dynamodb import DynamoDBHook

    return DynamoDBHook(aws_conn_id=conn_id).get_conn()  # a boto3 DynamoDB resource


def _sts(conn_id: str) -> Any:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return AwsBaseHook(aws_conn_id=conn_id, client_type="sts").get_conn()


@dag(
    dag_id=DAG_ID,
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["example", "aws"],
    doc_md=__doc__,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=20)},
    params={
        "bucket": Param("airflow-pipeline", type="string", minLength=3, description="S3 bucket of the CSV and JSON"),
        "source_key": Param(
            "incoming/{ds}/orders.csv", type="string", minLength=1, description="CSV key; {ds} = the run's date"
        ),
        "json_prefix": Param("json/", type="string", description="prefix of the published JSON key"),
        "table": Param("orders", type="string", minLength=3, description="DynamoDB table (key: order_id, number)"),
        "aws_conn_id": Param("aws_pipeline", type="string", minLength=1, description="AWS connection to use"),
        "date": Param(None, type=["null", "string"], description="YYYY-MM-DD; default: logical date or run_after"),
    },
)
def s3_csv_to_dynamodb():
    @task
    def whoami() -> str:
        """ARN the tasks run as (assumed-role/... when the connection has a role_arn)."""
        with _bad_input_fails_without_retry():
            cfg = _run_config()
        arn = steps.whoami(_sts(cfg.aws_conn_id))
        print(f"running as {arn}")
        return arn

    @task(multiple_outputs=True)
    def extract_transform() -> dict[str, Any]:
        with _bad_input_fails_without_retry():
            cfg = _run_config()
            return steps.extract_transform(
                _s3(cfg.aws_conn_id), bucket=cfg.bucket, source_key=cfg.source_key, staging_key=cfg.staging_key
            )

    @task(multiple_outputs=True)
    def publish() -> dict[str, Any]:
        with _bad_input_fails_without_retry():
            cfg = _run_config()
        return steps.publish(
            _s3(cfg.aws_conn_id), bucket=cfg.bucket, staging_key=cfg.staging_key, final_key=cfg.final_key
        )

    @task(multiple_outputs=True)
    def load() -> dict[str, Any]:
        with _bad_input_fails_without_retry():
            cfg = _run_config()
            return steps.load(
                _s3(cfg.aws_conn_id),
                _dynamodb(cfg.aws_conn_id),
                bucket=cfg.bucket,
                json_key=cfg.final_key,
                table=cfg.table,
            )

    @task(multiple_outputs=True)
    def cleanup() -> dict[str, Any]:
        with _bad_input_fails_without_retry():
            cfg = _run_config()
        return steps.cleanup(_s3(cfg.aws_conn_id), bucket=cfg.bucket, staging_key=cfg.staging_key)

    identity = whoami()
    extracted = extract_transform()
    loaded = load()
    chain(identity, extracted, publish(), loaded)
    cleaned = cleanup().as_teardown(setups=[identity, extracted])
    loaded >> cleaned


s3_csv_to_dynamodb()
