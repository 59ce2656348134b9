"""The pipeline's steps against S3, DynamoDB and STS, given ready-made boto3 objects.

Each step takes clients/resources built by the caller (from whatever
credentials it holds: an assumed role in production, moto in the tests), so
the same code runs under any account. Every step is idempotent:

- object keys are derived from the source key only (no random names, no run
  ids), and every write is a whole-object overwrite with identical bytes;
- items are upserts keyed by order_id (PutRequest replaces the whole item);
- deleting a missing object is a no-op.

Running any step twice, or the whole sequence twice, leaves the same objects
and the same items. Each step returns a small JSON-serialisable summary.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from aws_pipeline.orders import dumps_items, key_field, loads_items, parse_csv

BATCH_SIZE = 25  # BatchWriteItem's limit
MAX_BATCH_ATTEMPTS = 8


class UnprocessedItemsError(RuntimeError):
    """BatchWriteItem still returned unprocessed items after every retry."""


def whoami(sts: Any) -> str:
    """ARN of the identity the given STS client signs as (an assumed role shows as assumed-role/...)."""
    return sts.get_caller_identity()["Arn"]


def object_exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def extract_transform(s3: Any, *, bucket: str, source_key: str, staging_key: str) -> dict[str, Any]:
    """Read the CSV, validate every row, then write the typed JSON to the staging key.

    Raises orders.InvalidCsvError (with line numbers) before writing anything.
    """
    body = s3.get_object(Bucket=bucket, Key=source_key)["Body"].read()
    parsed = parse_csv(body)
    payload = dumps_items(parsed.items)
    source_sha256 = hashlib.sha256(body).hexdigest()
    s3.put_object(
        Bucket=bucket,
        Key=staging_key,
        Body=payload,
        ContentType="application/json",
        Metadata={"source-key": source_key, "source-sha256": source_sha256, "items": str(len(parsed.items))},
    )
    return {
        "source_key": source_key,
        "source_sha256": source_sha256,
        "staging_key": staging_key,
        "items": len(parsed.items),
        "bytes": len(payload),
        "ignored_columns": parsed.ignored_columns,
    }


def publish(s3: Any, *, bucket: str, staging_key: str, final_key: str) -> dict[str, Any]:
    """Copy the staging object over the final key (server-side copy, metadata kept).

    If the staging object is gone but the final one exists, a previous attempt
    already published and cleaned up: nothing to do (a re-run of this step
    alone must not fail nor change anything).
    """
    if not object_exists(s3, bucket, staging_key):
        if object_exists(s3, bucket, final_key):
            return {"staging_key": staging_key, "final_key": final_key, "already_published": True}
        raise FileNotFoundError(f"s3://{bucket}/{staging_key} is missing: run the extract step first")
    s3.copy_object(
        Bucket=bucket,
        Key=final_key,
        CopySource={"Bucket": bucket, "Key": staging_key},
        MetadataDirective="COPY",
    )
    size = s3.head_object(Bucket=bucket, Key=final_key)["ContentLength"]
    return {"staging_key": staging_key, "final_key": final_key, "bytes": size, "already_published": False}


def batches(seq: Sequence[Any], size: int = BATCH_SIZE) -> list[Sequence[Any]]:
    return [seq[i : i + size] for i in range(0, len(seq), size)]


def load(
    s3: Any,
    dynamodb: Any,
    *,
    bucket: str,
    json_key: str,
    table: str,
    batch_size: int = BATCH_SIZE,
    max_attempts: int = MAX_BATCH_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Upsert every item of the published JSON into the table, 25 per BatchWriteItem.

    ``dynamodb`` is a boto3 DynamoDB *resource* (it converts Python values,
    Decimal included). Unprocessed items are resent with exponential backoff;
    after ``max_attempts`` calls for one batch, UnprocessedItemsError.
    """
    body = s3.get_object(Bucket=bucket, Key=json_key)["Body"].read()
    items = loads_items(body)
    requests = [{"PutRequest": {"Item": item}} for item in items]
    retries = 0
    for batch in batches(requests, batch_size):
        pending: dict[str, Any] = {table: list(batch)}
        for attempt in range(1, max_attempts + 1):
            response = dynamodb.batch_write_item(RequestItems=pending)
            pending = {k: v for k, v in (response.get("UnprocessedItems") or {}).items() if v}
            if not pending:
                break
            if attempt == max_attempts:
                left = sum(len(v) for v in pending.values())
                raise UnprocessedItemsError(f"{left} item(s) still unprocessed after {max_attempts} attempts")
            retries += 1
            sleep(min(0.1 * 2 ** (attempt - 1), 5.0))
    return {
        "table": table,
        "json_key": json_key,
        "items": len(items),
        "batches": len(batches(requests, batch_size)),
        "retries": retries,
    }


def cleanup(s3: Any, *, bucket: str, staging_key: str) -> dict[str, Any]:
    """Delete the staging object (a no-op when it is already gone)."""
    existed = object_exists(s3, bucket, staging_key)
    s3.delete_object(Bucket=bucket, Key=staging_key)
    return {"staging_key": staging_key, "deleted": existed}


def create_orders_table(dynamodb: Any, table: str) -> Any:
    """Create the orders table (order_id number partition key, on-demand) if missing; for tests and set-up."""
    key = key_field().name
    try:
        created = dynamodb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "N"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
            raise
        return dynamodb.Table(table)
    created.wait_until_exists()
    return created
