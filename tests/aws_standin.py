"""The AWS side of the example pipeline, on the moto stand-in (or on AWS).

Used by the end-to-end tests and by scripts/demo.sh: create the target
account's role, bucket and table, put the orders CSV, and read back the S3
and DynamoDB state. The pipeline itself never uses this: it reaches AWS only
through its Airflow connection.

Accounts: the connection's keys belong to the source account (moto puts plain
keys in 123456789012); the pipeline assumes PipelineWriter in TARGET_ACCOUNT
and every pipeline resource lives there.
"""

from __future__ import annotations

import json
from decimal import Decimal

import boto3

REGION = "eu-west-1"
SOURCE_ACCOUNT = "123456789012"
TARGET_ACCOUNT = "222222222222"
ROLE_NAME = "PipelineWriter"
ROLE_ARN = f"arn:aws:iam::{TARGET_ACCOUNT}:role/{ROLE_NAME}"
SOURCE_KEYS = {"aws_access_key_id": "AKIAFLEETACCOUNTA001", "aws_secret_access_key": "fleet-test-secret-key-account-a"}


def source_session(endpoint: str) -> boto3.Session:
    return boto3.Session(region_name=REGION, **SOURCE_KEYS)


def target_session(endpoint: str) -> boto3.Session:
    """The target account, reached the way the pipeline reaches it: AssumeRole."""
    sts = source_session(endpoint).client("sts", endpoint_url=endpoint)
    creds = sts.assume_role(RoleArn=ROLE_ARN, RoleSessionName="fleet-setup")["Credentials"]
    return boto3.Session(
        region_name=REGION,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def prepare(endpoint: str, bucket: str, table: str, log_bucket: str | None = None) -> None:
    """Role, bucket and table in the target account; the log bucket in the source account. Idempotent."""
    target = target_session(endpoint)
    iam = target.client("iam", endpoint_url=endpoint)
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{SOURCE_ACCOUNT}:root"},
                       "Action": "sts:AssumeRole"}],
    }
    try:
        iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    s3 = target.client("s3", endpoint_url=endpoint)
    if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    dynamodb = target.client("dynamodb", endpoint_url=endpoint)
    if table not in dynamodb.list_tables()["TableNames"]:
        dynamodb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "order_id", "AttributeType": "N"}],
            BillingMode="PAY_PER_REQUEST",
        )
    if log_bucket:
        s3a = source_session(endpoint).client("s3", endpoint_url=endpoint)
        if log_bucket not in {b["Name"] for b in s3a.list_buckets()["Buckets"]}:
            s3a.create_bucket(Bucket=log_bucket, CreateBucketConfiguration={"LocationConstraint": REGION})


def put_csv(endpoint: str, bucket: str, key: str, body: bytes) -> None:
    target_session(endpoint).client("s3", endpoint_url=endpoint).put_object(Bucket=bucket, Key=key, Body=body)


def s3_state(endpoint: str, bucket: str) -> dict[str, bytes]:
    s3 = target_session(endpoint).client("s3", endpoint_url=endpoint)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in sorted(keys)}


def table_items(endpoint: str, table: str) -> list[dict]:
    dynamodb = target_session(endpoint).resource("dynamodb", endpoint_url=endpoint)
    items = dynamodb.Table(table).scan()["Items"]
    return sorted(items, key=lambda item: Decimal(item["order_id"]))


def log_objects(endpoint: str, log_bucket: str, prefix: str = "") -> list[str]:
    s3 = source_session(endpoint).client("s3", endpoint_url=endpoint)
    return [o["Key"] for o in s3.list_objects_v2(Bucket=log_bucket, Prefix=prefix).get("Contents", [])]
