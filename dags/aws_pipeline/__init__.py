"""Logic of the s3_csv_to_dynamodb example pipeline, importable without the orchestrator.

- ``orders``: the CSV schema, CSV -> typed items, the JSON format, run config and keys.
- ``steps``: whoami / extract_transform / publish / load / cleanup on boto3 objects.

Only the standard library and boto3/botocore are imported, so the unit tests
run on the controller against moto. (This package deliberately never names the
orchestrator in its text: its safe-mode file scan then skips these modules.)
"""

from aws_pipeline.orders import InvalidCsvError, RunConfig, parse_csv, resolve_run_config

__all__ = ["InvalidCsvError", "RunConfig", "parse_csv", "resolve_run_config"]
