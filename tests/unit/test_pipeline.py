"""The s3_csv_to_dynamodb pipeline's logic, against moto's in-process S3, DynamoDB, STS and IAM.

Airflow is not installed on the controller: the logic lives in dags/aws_pipeline
(standard library + boto3 only) and the DAG file is only compiled and inspected.
No test touches the network: fake credentials, moto's mock_aws.
"""

from __future__ import annotations

import ast
import json
import py_compile
import sys
from datetime import datetime, timezone
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
sys.path.insert(0, str(DAGS))

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

from aws_pipeline import orders, steps  # noqa: E402

BUCKET = "airflow-pipeline"
TABLE = "orders"
REGION = "us-east-1"
TARGET_ACCOUNT = "222222222222"

HEADER = "order_id,customer,amount,quantity,placed_at\n"
CSV = (
    HEADER
    + "1,Alice,12.50,2,2025-01-02T10:30:00Z\n"
    + "2, Bob ,0.10,1,2025-01-02T11:00:00+02:00\n"
    + "3,Chloé,-3,10,2025-01-02\n"
)


def many_rows(n: int) -> str:
    return HEADER + "".join(f"{i},customer {i},{i}.{i % 100:02d},{i % 7},2025-01-02T00:00:{i % 60:02d}Z\n" for i in range(1, n + 1))


# ---------------------------------------------------------------------------
# Fixtures


@pytest.fixture(autouse=True)
def fake_aws_env(monkeypatch, tmp_path):
    """Fake credentials and region; no profile, config file or endpoint from the machine."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
                 "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_STS", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@contextmanager
def moto_world():
    """A fresh moto S3 + DynamoDB with the bucket and the table, as the default (source) account."""
    with moto.mock_aws():
        session = boto3.Session(region_name=REGION)
        s3 = session.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        dynamodb = session.resource("dynamodb")
        steps.create_orders_table(dynamodb, TABLE)
        yield SimpleNamespace(session=session, s3=s3, dynamodb=dynamodb, sts=session.client("sts"))


@pytest.fixture
def aws():
    with moto_world() as world:
        yield world


def config(source_key: str = "incoming/2025-01-02/orders.csv") -> orders.RunConfig:
    return orders.resolve_run_config(
        params={"bucket": BUCKET, "source_key": source_key, "json_prefix": "json/", "table": TABLE,
                "aws_conn_id": "aws_pipeline", "date": None},
        conf=None,
        logical_date=datetime(2025, 1, 2, tzinfo=timezone.utc),
        run_after=None,
    )


def put_csv(aws, text: str | bytes, cfg: orders.RunConfig | None = None) -> orders.RunConfig:
    cfg = cfg or config()
    aws.s3.put_object(Bucket=cfg.bucket, Key=cfg.source_key, Body=text.encode() if isinstance(text, str) else text)
    return cfg


def run_extract(aws, cfg):
    return steps.extract_transform(aws.s3, bucket=cfg.bucket, source_key=cfg.source_key, staging_key=cfg.staging_key)


def run_publish(aws, cfg):
    return steps.publish(aws.s3, bucket=cfg.bucket, staging_key=cfg.staging_key, final_key=cfg.final_key)


def run_load(aws, cfg, dynamodb=None):
    return steps.load(aws.s3, dynamodb or aws.dynamodb, bucket=cfg.bucket, json_key=cfg.final_key, table=cfg.table)


def run_cleanup(aws, cfg):
    return steps.cleanup(aws.s3, bucket=cfg.bucket, staging_key=cfg.staging_key)


def run_all(aws, cfg):
    return [run_extract(aws, cfg), run_publish(aws, cfg), run_load(aws, cfg), run_cleanup(aws, cfg)]


def snapshot(aws, bucket: str = BUCKET, table: str = TABLE) -> dict:
    """Everything that the pipeline can change: every object (body, type, metadata) and every item."""
    objects = {}
    for page in aws.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            obj = aws.s3.get_object(Bucket=bucket, Key=entry["Key"])
            objects[entry["Key"]] = (obj["Body"].read(), obj.get("ContentType"), obj.get("Metadata"))
    items = []  # the resource's client gives Python values (Decimal); repr() keeps 12.50 != 12.5
    for page in aws.dynamodb.meta.client.get_paginator("scan").paginate(TableName=table):
        items.extend(page["Items"])
    items.sort(key=lambda i: int(i["order_id"]))
    return {"objects": objects, "items": [{k: repr(v) for k, v in sorted(i.items())} for i in items]}


def table_items(aws) -> list[dict]:
    return sorted(aws.dynamodb.Table(TABLE).scan()["Items"], key=lambda i: i["order_id"])


# ---------------------------------------------------------------------------
# CSV -> typed items


def test_rows_become_typed_items():
    items = orders.parse_csv(CSV.encode()).items
    assert items == [
        {"order_id": 1, "customer": "Alice", "amount": Decimal("12.50"), "quantity": 2,
         "placed_at": "2025-01-02T10:30:00+00:00"},
        {"order_id": 2, "customer": "Bob", "amount": Decimal("0.10"), "quantity": 1,
         "placed_at": "2025-01-02T09:00:00+00:00"},
        {"order_id": 3, "customer": "Chloé", "amount": Decimal("-3"), "quantity": 10,
         "placed_at": "2025-01-02T00:00:00+00:00"},
    ]
    first = items[0]
    assert all(isinstance(first[name], int) and not isinstance(first[name], bool) for name in ("order_id", "quantity"))
    assert isinstance(first["amount"], Decimal) and not any(isinstance(v, float) for i in items for v in i.values())
    assert list(first) == ["order_id", "customer", "amount", "quantity", "placed_at"]


def test_header_mapping_order_case_extra_columns_bom_crlf_blank_lines():
    text = (
        "\ufeff Placed-At ,QUANTITY,Customer,Order ID,amount,note\r\n"
        "\r\n"
        "2025-01-02T10:30:00, 2 ,\"Doe, Jane\",  7 , 1.5 ,ignored\r\n"
        "   \r\n"
    )
    result = orders.parse_csv(text.encode())
    assert result.items == [{"order_id": 7, "customer": "Doe, Jane", "amount": Decimal("1.5"), "quantity": 2,
                             "placed_at": "2025-01-02T10:30:00+00:00"}]
    assert result.ignored_columns == ["note"]


def test_whitespace_around_values_is_stripped():
    result = orders.parse_csv(HEADER + "  5 ,\t Ann Lee \t, 0.5 , 3 , 2025-01-02T10:00:00Z \n")
    assert result.items[0]["customer"] == "Ann Lee"
    assert result.items[0]["order_id"] == 5 and result.items[0]["amount"] == Decimal("0.5")


@pytest.mark.parametrize("text", [b"", b"\n\n", HEADER.encode(), (HEADER + "\n  \n").encode(), b"\xef\xbb\xbf"])
def test_empty_file_or_header_only_has_no_items(text):
    assert orders.parse_csv(text).items == []


def test_bad_rows_report_every_line_number_and_reason():
    text = (
        HEADER                                            # line 1
        + "1,Alice,12.50,2,2025-01-02T10:30:00Z\n"         # line 2 ok
        + "\n"                                            # line 3 blank, skipped
        + "x,Bob,1,1,2025-01-02\n"                        # line 4 bad order_id
        + "3,,1,1,2025-01-02\n"                           # line 5 missing customer
        + "4,Dan,1.2.3,1,2025-01-02\n"                    # line 6 bad amount
        + "5,Eve,1,-2,2025-01-02\n"                       # line 7 negative quantity
        + "6,Fay,1,1,yesterday\n"                         # line 8 bad date
        + "7,Gus,1,1\n"                                   # line 9 missing field
        + "1,Hal,1,1,2025-01-02\n"                        # line 10 duplicate key
        + "8,Ivy,NaN,1,2025-01-02\n"                      # line 11 NaN is not a decimal here
    )
    with pytest.raises(orders.InvalidCsvError) as caught:
        orders.parse_csv(text.encode())
    got = [(e.line, e.column) for e in caught.value.errors]
    assert got == [(4, "order_id"), (5, "customer"), (6, "amount"), (7, "quantity"), (8, "placed_at"),
                   (9, None), (10, "order_id"), (11, "amount")]
    message = str(caught.value)
    assert message.startswith("8 invalid row(s), nothing written")
    assert "line 4, column order_id: 'x' is not a non-negative integer" in message
    assert "line 10, column order_id: duplicate key 1 (first on line 2)" in message
    assert "line 9: expected 5 fields, found 4" in message


def test_multiline_quoted_field_reports_the_line_where_the_row_ends():
    text = HEADER + '1,"Alice\nSmith",1,1,2025-01-02\n2,Bob,oops,1,2025-01-02\n'
    with pytest.raises(orders.InvalidCsvError) as caught:
        orders.parse_csv(text)
    assert [(e.line, e.column) for e in caught.value.errors] == [(4, "amount")]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (b"order_id,customer,amount\n1,a,1\n", r"line 1: header lacks column\(s\) quantity, placed_at"),
        (b"order_id,Order-ID,customer,amount,quantity,placed_at\n", "duplicate column in header"),
        (HEADER.encode() + b"1,\"unterminated,1,1,2025-01-02\n", "malformed CSV"),
        (HEADER.encode() + b"1,Caf\xe9,1,1,2025-01-02\n", "not UTF-8 text"),
    ],
)
def test_structural_problems_are_invalid_csv(text, fragment):
    with pytest.raises(orders.InvalidCsvError, match=fragment):
        orders.parse_csv(text)


def test_json_document_is_exact_and_deterministic():
    items = orders.parse_csv(CSV).items
    data = orders.dumps_items(items)
    assert data == orders.dumps_items(orders.parse_csv(CSV).items)
    assert data.decode().splitlines()[1] == (
        '{"order_id": 1, "customer": "Alice", "amount": 12.50, "quantity": 2, '
        '"placed_at": "2025-01-02T10:30:00+00:00"},'
    )
    assert json.loads(data)[2]["customer"] == "Chloé"
    back = orders.loads_items(data)
    assert back == items
    assert back[2]["amount"] == Decimal("-3") and isinstance(back[2]["amount"], Decimal)
    assert orders.dumps_items([]) == b"[]\n" and orders.loads_items(b"[]\n") == []


@pytest.mark.parametrize(
    "doc",
    ['{"order_id": 1}', '[{"order_id": 1}]', '[{"order_id": 1.5, "customer": "a", "amount": 1, "quantity": 1, '
     '"placed_at": "x"}]', "not json"],
)
def test_loads_items_rejects_documents_of_another_shape(doc):
    with pytest.raises(orders.InvalidItemsError):
        orders.loads_items(doc)


# ---------------------------------------------------------------------------
# Run configuration and keys


def test_keys_derive_from_the_source_key_only():
    assert orders.object_keys("incoming/2025-01-02/orders.csv", "json/") == (
        "staging/json/incoming/2025-01-02/orders.json", "json/incoming/2025-01-02/orders.json")
    assert orders.object_keys("a/b.CSV", "out") == ("staging/out/a/b.json", "out/a/b.json")
    assert orders.object_keys("x.json", "")[1] == "x.json.json"  # never overwrites the source
    with pytest.raises(ValueError):
        orders.object_keys("/abs.csv", "json/")


PARAMS = {"bucket": "airflow-pipeline", "source_key": "incoming/{ds}/orders.csv", "json_prefix": "json/",
          "table": "orders", "aws_conn_id": "aws_pipeline", "date": None}


def test_run_config_uses_the_logical_date():
    cfg = orders.resolve_run_config(PARAMS, {}, datetime(2025, 3, 4, 23, 30, tzinfo=timezone.utc), None)
    assert (cfg.source_key, cfg.final_key, cfg.staging_key, cfg.date) == (
        "incoming/2025-03-04/orders.csv", "json/incoming/2025-03-04/orders.json",
        "staging/json/incoming/2025-03-04/orders.json", "2025-03-04")


def test_run_config_without_logical_date_uses_run_after_in_utc():
    from datetime import timedelta

    run_after = datetime(2025, 3, 5, 1, 0, tzinfo=timezone(timedelta(hours=2)))  # 2025-03-04 23:00 UTC
    cfg = orders.resolve_run_config(PARAMS, None, None, run_after)
    assert cfg.source_key == "incoming/2025-03-04/orders.csv"


def test_trigger_conf_overrides_params_and_date_param_wins():
    conf = {"bucket": "other", "table": "orders_b", "date": "2024-12-31", "json_prefix": "out",
            "source_key": "drop/{ds_nodash}.csv", "unrelated": 1}
    cfg = orders.resolve_run_config(PARAMS, conf, datetime(2025, 1, 1, tzinfo=timezone.utc), None)
    assert (cfg.bucket, cfg.table, cfg.source_key, cfg.final_key) == (
        "other", "orders_b", "drop/20241231.csv", "out/drop/20241231.json")
    assert cfg.aws_conn_id == "aws_pipeline"


@pytest.mark.parametrize(
    ("override", "fragment"),
    [({"date": "2025-1-2"}, "not YYYY-MM-DD"), ({"source_key": "in/{run_id}.csv"}, "only {ds}"),
     ({"bucket": ""}, "non-empty"), ({"source_key": "in/{ds}/"}, "must name an object")],
)
def test_bad_run_config_is_rejected(override, fragment):
    with pytest.raises(orders.InvalidRunConfigError, match=fragment):
        orders.resolve_run_config({**PARAMS, **override}, None, datetime(2025, 1, 1, tzinfo=timezone.utc), None)


# ---------------------------------------------------------------------------
# The steps against moto S3 + DynamoDB


def test_pipeline_end_to_end(aws):
    cfg = put_csv(aws, CSV)
    extracted, published, loaded, cleaned = run_all(aws, cfg)

    assert extracted["items"] == 3 and extracted["staging_key"] == cfg.staging_key
    assert published == {"staging_key": cfg.staging_key, "final_key": cfg.final_key, "bytes": extracted["bytes"],
                         "already_published": False}
    assert loaded == {"table": TABLE, "json_key": cfg.final_key, "items": 3, "batches": 1, "retries": 0}
    assert cleaned == {"staging_key": cfg.staging_key, "deleted": True}
    json.dumps([extracted, published, loaded, cleaned])  # XCom-serialisable

    final = aws.s3.get_object(Bucket=BUCKET, Key=cfg.final_key)
    assert final["ContentType"] == "application/json"
    assert final["Metadata"]["source-key"] == cfg.source_key and final["Metadata"]["items"] == "3"
    assert orders.loads_items(final["Body"].read()) == orders.parse_csv(CSV).items

    assert table_items(aws) == [
        {"order_id": 1, "customer": "Alice", "amount": Decimal("12.5"), "quantity": 2,
         "placed_at": "2025-01-02T10:30:00+00:00"},
        {"order_id": 2, "customer": "Bob", "amount": Decimal("0.1"), "quantity": 1,
         "placed_at": "2025-01-02T09:00:00+00:00"},
        {"order_id": 3, "customer": "Chloé", "amount": Decimal("-3"), "quantity": 10,
         "placed_at": "2025-01-02T00:00:00+00:00"},
    ]
    assert set(snapshot(aws)["objects"]) == {cfg.source_key, cfg.final_key}  # no staging left


def test_whole_run_twice_leaves_identical_state(aws):
    cfg = put_csv(aws, many_rows(60))
    run_all(aws, cfg)
    first = snapshot(aws)
    run_all(aws, cfg)
    assert snapshot(aws) == first
    assert len(first["items"]) == 60 and set(first["objects"]) == {cfg.source_key, cfg.final_key}


@pytest.mark.parametrize("repeat", ["extract", "publish", "load", "cleanup"])
def test_any_single_step_twice_leaves_identical_state(repeat):
    order = [("extract", run_extract), ("publish", run_publish), ("load", run_load), ("cleanup", run_cleanup)]
    states = []
    for doubled in (False, True):
        with moto_world() as world:  # a fresh account each round
            cfg = put_csv(world, many_rows(30))
            for name, step in order:
                step(world, cfg)
                if doubled and name == repeat:
                    step(world, cfg)
            states.append(snapshot(world))
    assert states[0] == states[1]
    assert len(states[0]["items"]) == 30


def test_rerunning_steps_in_any_order_after_a_complete_run_changes_nothing(aws):
    """Late redeliveries: extract/publish/load/cleanup again after the run finished."""
    cfg = put_csv(aws, CSV)
    run_all(aws, cfg)
    done = snapshot(aws)
    assert run_publish(aws, cfg) == {"staging_key": cfg.staging_key, "final_key": cfg.final_key,
                                     "already_published": True}
    run_load(aws, cfg)
    assert run_cleanup(aws, cfg) == {"staging_key": cfg.staging_key, "deleted": False}
    assert snapshot(aws) == done
    run_extract(aws, cfg)
    run_publish(aws, cfg)
    run_cleanup(aws, cfg)
    assert snapshot(aws) == done


def test_publish_without_extract_fails(aws):
    cfg = put_csv(aws, CSV)
    with pytest.raises(FileNotFoundError, match="run the extract step first"):
        run_publish(aws, cfg)


def test_a_bad_row_writes_nothing(aws):
    cfg = put_csv(aws, CSV + "4,Dan,12,abc,2025-01-02\n")
    before = snapshot(aws)
    with pytest.raises(orders.InvalidCsvError, match="line 5, column quantity"):
        run_extract(aws, cfg)
    assert snapshot(aws) == before  # no staging object, no JSON, no item
    assert before["items"] == []


def test_empty_csv_publishes_an_empty_array_and_loads_nothing(aws):
    cfg = put_csv(aws, b"")
    extracted, _published, loaded, _cleaned = run_all(aws, cfg)
    assert extracted["items"] == 0 and loaded["items"] == 0 and loaded["batches"] == 0
    assert aws.s3.get_object(Bucket=BUCKET, Key=cfg.final_key)["Body"].read() == b"[]\n"
    assert table_items(aws) == []


def test_load_upserts_by_order_id(aws):
    cfg = put_csv(aws, CSV)
    run_all(aws, cfg)
    put_csv(aws, HEADER + "2,Bob,99.99,5,2025-01-03T00:00:00Z\n4,Dee,1,1,2025-01-03\n", cfg)
    run_all(aws, cfg)
    items = {int(i["order_id"]): i for i in table_items(aws)}
    assert sorted(items) == [1, 2, 3, 4]  # upsert, not sync: 1 and 3 stay
    assert items[2]["amount"] == Decimal("99.99") and items[2]["quantity"] == 5


class CountingResource:
    """A DynamoDB resource that records each BatchWriteItem size and can hold items back."""

    def __init__(self, real, hold_back: int = 0, hold_calls: int = 0):
        self.real, self.hold_back, self.hold_calls = real, hold_back, hold_calls
        self.sizes: list[int] = []

    def batch_write_item(self, RequestItems):  # noqa: N803 - boto3's spelling
        (table, requests), = RequestItems.items()
        self.sizes.append(len(requests))
        if self.hold_calls > 0:
            self.hold_calls -= 1
            done, held = requests[: -self.hold_back], requests[-self.hold_back:]
            if done:
                self.real.batch_write_item(RequestItems={table: done})
            return {"UnprocessedItems": {table: held}}
        return self.real.batch_write_item(RequestItems=RequestItems)


def test_load_writes_batches_of_25_and_resends_unprocessed_items(aws, monkeypatch):
    cfg = put_csv(aws, many_rows(60))
    run_extract(aws, cfg)
    run_publish(aws, cfg)
    sleeps: list[float] = []
    resource = CountingResource(aws.dynamodb, hold_back=5, hold_calls=2)
    summary = steps.load(aws.s3, resource, bucket=BUCKET, json_key=cfg.final_key, table=TABLE, sleep=sleeps.append)
    assert resource.sizes == [25, 5, 5, 25, 10]  # batch 1 held 5 back twice, then batches 2 and 3
    assert summary["batches"] == 3 and summary["retries"] == 2 and sleeps == [0.1, 0.2]
    assert [int(i["order_id"]) for i in table_items(aws)] == list(range(1, 61))


def test_load_gives_up_after_max_attempts(aws):
    cfg = put_csv(aws, CSV)
    run_extract(aws, cfg)
    run_publish(aws, cfg)
    resource = CountingResource(aws.dynamodb, hold_back=1, hold_calls=99)
    with pytest.raises(steps.UnprocessedItemsError, match="1 item"):
        steps.load(aws.s3, resource, bucket=BUCKET, json_key=cfg.final_key, table=TABLE, max_attempts=3,
                   sleep=lambda s: None)
    assert len(resource.sizes) == 3


# ---------------------------------------------------------------------------
# Cross-account: the steps run with credentials of a role assumed in another account


TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]})


def assumed_session(source: boto3.Session, role_arn: str, name: str) -> boto3.Session:
    creds = source.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=name)["Credentials"]
    return boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"], region_name=REGION)


def test_whoami_returns_the_assumed_role_and_resources_live_in_that_account():
    with moto.mock_aws():
        source = boto3.Session(region_name=REGION)
        assert steps.whoami(source.client("sts")).startswith("arn:aws:sts::123456789012:")
        # Set up the target account: an administrator there creates the role the pipeline assumes.
        admin = assumed_session(source, f"arn:aws:iam::{TARGET_ACCOUNT}:role/OrganizationAccountAccessRole", "setup")
        role_arn = admin.client("iam").create_role(RoleName="PipelineWriter", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        assert role_arn == f"arn:aws:iam::{TARGET_ACCOUNT}:role/PipelineWriter"

        # The provider's AwsBaseHook names the session "Airflow_<conn id>", slugified: airflow_aws_pipeline.
        target = assumed_session(source, role_arn, "airflow_aws_pipeline")
        arn = steps.whoami(target.client("sts"))
        assert arn == f"arn:aws:sts::{TARGET_ACCOUNT}:assumed-role/PipelineWriter/airflow_aws_pipeline"

        # The whole pipeline with the assumed credentials: the table is the target account's.
        aws = SimpleNamespace(s3=target.client("s3"), dynamodb=target.resource("dynamodb"))
        aws.s3.create_bucket(Bucket=BUCKET)
        steps.create_orders_table(aws.dynamodb, TABLE)
        cfg = put_csv(aws, CSV)
        run_all(aws, cfg)
        assert len(table_items(aws)) == 3
        assert source.client("dynamodb").list_tables()["TableNames"] == []
        assert target.client("dynamodb").describe_table(TableName=TABLE)["Table"]["TableArn"].startswith(
            f"arn:aws:dynamodb:{REGION}:{TARGET_ACCOUNT}:table/")


# ---------------------------------------------------------------------------
# The DAG file and the package (Airflow is not installed here: compile and inspect)

PACKAGE_FILES = sorted((DAGS / "aws_pipeline").glob("*.py"))
DAG_FILE = DAGS / "s3_csv_to_dynamodb.py"


@pytest.mark.parametrize("path", [DAG_FILE, *PACKAGE_FILES], ids=lambda p: p.name)
def test_files_compile(path, tmp_path):
    py_compile.compile(str(path), cfile=str(tmp_path / "out.pyc"), doraise=True)


def test_package_is_skipped_by_the_dag_processor_safe_mode_scan():
    # Safe mode parses only files containing both "airflow" and "dag"; the helpers must not be parsed as DAGs.
    for path in PACKAGE_FILES:
        assert "airflow" not in path.read_text().lower(), path
    assert "airflow" in DAG_FILE.read_text().lower() and "dag" in DAG_FILE.read_text().lower()


def test_package_imports_only_stdlib_and_boto():
    allowed = set(sys.stdlib_module_names) | {"boto3", "botocore", "aws_pipeline", "__future__"}
    for path in PACKAGE_FILES:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


def test_dag_file_declares_the_documented_tasks_and_params():
    tree = ast.parse(DAG_FILE.read_text())
    dag_fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "s3_csv_to_dynamodb")
    tasks = [n.name for n in dag_fn.body if isinstance(n, ast.FunctionDef)]
    assert tasks == ["whoami", "extract_transform", "publish", "load", "cleanup"]
    decorator = next(d for d in dag_fn.decorator_list if isinstance(d, ast.Call))
    kwargs = {k.arg: k.value for k in decorator.keywords}
    assert isinstance(kwargs["dag_id"], ast.Name) and kwargs["dag_id"].id == "DAG_ID"
    assert 'DAG_ID = "s3_csv_to_dynamodb"' in DAG_FILE.read_text()
    assert isinstance(kwargs["schedule"], ast.Constant) and kwargs["schedule"].value is None
    assert kwargs["catchup"].value is False
    assert ast.literal_eval(kwargs["tags"]) == ["example", "aws"]
    params = {ast.literal_eval(k): ast.literal_eval(v.args[0]) for k, v in zip(kwargs["params"].keys,
                                                                               kwargs["params"].values)}
    assert params == PARAMS
    source = DAG_FILE.read_text()
    assert "aws_access_key_id" not in source.lower() and "endpoint_url=" not in source
