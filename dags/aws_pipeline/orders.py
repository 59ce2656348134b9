"""Orders CSV -> typed items: schema, parsing, the JSON format and the run's object keys.

Pure functions (standard library only), so they can be unit-tested anywhere.

Schema (header names are matched case-insensitively, surrounding whitespace
ignored, spaces and hyphens read as underscores, so "Order ID" is order_id):

    order_id   int >= 0, the table's partition key, unique within a file
    customer   str, non-empty (surrounding whitespace stripped)
    amount     Decimal, plain notation ("12.50", "-3", "0.125"): the table's
               number type takes Decimal, never float, so no value is rounded
    quantity   int >= 0
    placed_at  ISO-8601 date-time (or date); normalised to UTC, e.g.
               "2025-01-02T10:30:00+00:00"; a value without offset is read as UTC

Columns not in the schema are ignored (reported as ``ignored_columns``). Blank
lines are skipped. A file with no header, or a header and no rows, has zero
items. Any bad row fails the whole file: every problem is collected with its
line number and raised as :class:`InvalidCsvError` *before* anything is
written, so a file is loaded entirely or not at all.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

# ---------------------------------------------------------------------------
# Schema

INT = "int"
STR = "str"
DECIMAL = "decimal"
TIMESTAMP = "timestamp"

MAX_NUMBER_DIGITS = 38  # the table's number type keeps at most 38 significant digits
MAX_ERRORS_IN_MESSAGE = 20


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    key: bool = False


ORDER_SCHEMA: tuple[Field, ...] = (
    Field("order_id", INT, key=True),
    Field("customer", STR),
    Field("amount", DECIMAL),
    Field("quantity", INT),
    Field("placed_at", TIMESTAMP),
)


def key_field(schema: Sequence[Field] = ORDER_SCHEMA) -> Field:
    keys = [f for f in schema if f.key]
    if len(keys) != 1:
        raise ValueError("a schema needs exactly one key field")
    return keys[0]


# ---------------------------------------------------------------------------
# Errors


@dataclass(frozen=True)
class RowError:
    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.message}"


class InvalidCsvError(ValueError):
    """The CSV does not match the schema; ``errors`` lists every problem found."""

    def __init__(self, errors: Sequence[RowError]):
        self.errors = list(errors)
        shown = "; ".join(str(e) for e in self.errors[:MAX_ERRORS_IN_MESSAGE])
        more = len(self.errors) - MAX_ERRORS_IN_MESSAGE
        if more > 0:
            shown += f"; and {more} more"
        super().__init__(f"{len(self.errors)} invalid row(s), nothing written: {shown}")


class InvalidItemsError(ValueError):
    """A JSON document does not hold items of the schema."""


class InvalidRunConfigError(ValueError):
    """A param / trigger conf value is unusable (bad date, key template, empty name)."""


# ---------------------------------------------------------------------------
# Value converters (raw text -> typed value); raise ValueError with a reason

_UINT = re.compile(r"\d+")
_DECIMAL = re.compile(r"[-+]?\d+(?:\.\d+)?")


def to_int(raw: str) -> int:
    if not _UINT.fullmatch(raw):
        raise ValueError(f"{raw!r} is not a non-negative integer")
    value = int(raw)
    if len(str(value)) > MAX_NUMBER_DIGITS:
        raise ValueError(f"{raw!r} has more than {MAX_NUMBER_DIGITS} digits")
    return value


def to_decimal(raw: str) -> Decimal:
    if not _DECIMAL.fullmatch(raw):
        raise ValueError(f"{raw!r} is not a decimal number")
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:  # pragma: no cover - the pattern already guards
        raise ValueError(f"{raw!r} is not a decimal number") from exc
    if len(value.as_tuple().digits) > MAX_NUMBER_DIGITS:
        raise ValueError(f"{raw!r} has more than {MAX_NUMBER_DIGITS} significant digits")
    return value


def to_text(raw: str) -> str:
    if not raw:
        raise ValueError("empty text")
    return raw


def to_timestamp(raw: str) -> str:
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not an ISO-8601 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat()


CONVERTERS = {INT: to_int, STR: to_text, DECIMAL: to_decimal, TIMESTAMP: to_timestamp}


# ---------------------------------------------------------------------------
# CSV -> items


def normalize_header(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


@dataclass
class ParseResult:
    items: list[dict[str, Any]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


def parse_csv(data: bytes | str, schema: Sequence[Field] = ORDER_SCHEMA) -> ParseResult:
    """Return one typed item per data row, or raise InvalidCsvError listing every bad row."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidCsvError([RowError(0, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    else:
        text = data.removeprefix("\ufeff")

    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows = _non_blank_rows(reader)
    try:
        header_line, header = next(rows)
    except StopIteration:
        return ParseResult()
    except csv.Error as exc:
        raise InvalidCsvError([RowError(reader.line_num, None, f"malformed CSV: {exc}")]) from None

    errors: list[RowError] = []
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        normalized = normalize_header(name)
        if normalized in positions:
            errors.append(RowError(header_line, name.strip(), "duplicate column in header"))
        positions.setdefault(normalized, index)
    missing = [f.name for f in schema if f.name not in positions]
    if missing:
        errors.append(RowError(header_line, None, f"header lacks column(s) {', '.join(missing)}"))
    if errors:
        raise InvalidCsvError(errors)
    known = {f.name for f in schema}
    ignored = [header[i].strip() for n, i in positions.items() if n not in known]

    key = key_field(schema)
    seen: dict[Any, int] = {}
    items: list[dict[str, Any]] = []
    while True:
        try:
            line, row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(reader.line_num, None, f"malformed CSV: {exc}"))
            break  # the reader cannot resynchronise after a quoting error
        if len(row) != len(header):
            errors.append(RowError(line, None, f"expected {len(header)} fields, found {len(row)}"))
            continue
        item: dict[str, Any] = {}
        row_ok = True
        for f in schema:
            raw = row[positions[f.name]].strip()
            if raw == "":
                errors.append(RowError(line, f.name, "missing value"))
                row_ok = False
                continue
            try:
                item[f.name] = CONVERTERS[f.kind](raw)
            except ValueError as exc:
                errors.append(RowError(line, f.name, str(exc)))
                row_ok = False
        if not row_ok:
            continue
        first = seen.setdefault(item[key.name], line)
        if first != line:
            errors.append(RowError(line, key.name, f"duplicate key {item[key.name]!r} (first on line {first})"))
            continue
        items.append(item)
    if errors:
        raise InvalidCsvError(errors)
    return ParseResult(items=items, ignored_columns=sorted(ignored))


def _non_blank_rows(reader: Any) -> Iterable[tuple[int, list[str]]]:
    for row in reader:
        if not row or all(not cell.strip() for cell in row):
            continue
        yield reader.line_num, row


# ---------------------------------------------------------------------------
# The JSON format: an array of objects, one item per line, keys in schema
# order, Decimal written as an exact JSON number. Same items -> same bytes.


def dumps_items(items: Sequence[Mapping[str, Any]]) -> bytes:
    if not items:
        return b"[]\n"
    body = ",\n".join(_encode(item) for item in items)
    return ("[\n" + body + "\n]\n").encode("utf-8")


def _encode(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_encode(v) for v in value) + "]"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot encode {value!r} as a JSON number")
        return str(value)
    if isinstance(value, float):
        raise TypeError("floats are not allowed in items; use Decimal")
    return json.dumps(value, ensure_ascii=False)


def loads_items(data: bytes | str, schema: Sequence[Field] = ORDER_SCHEMA) -> list[dict[str, Any]]:
    """Parse a document written by dumps_items back into typed items (checked against the schema)."""
    try:
        doc = json.loads(data, parse_float=Decimal)
    except ValueError as exc:
        raise InvalidItemsError(f"not JSON: {exc}") from None
    if not isinstance(doc, list):
        raise InvalidItemsError("expected a JSON array of items")
    key = key_field(schema)
    seen: set[Any] = set()
    items = []
    for position, raw in enumerate(doc, start=1):
        if not isinstance(raw, dict):
            raise InvalidItemsError(f"item {position}: expected an object")
        item = {}
        for f in schema:
            if f.name not in raw:
                raise InvalidItemsError(f"item {position}: missing {f.name}")
            item[f.name] = _typed(position, f, raw[f.name])
        if item[key.name] in seen:
            raise InvalidItemsError(f"item {position}: duplicate key {item[key.name]!r}")
        seen.add(item[key.name])
        items.append(item)
    return items


def _typed(position: int, f: Field, value: Any) -> Any:
    ok = {
        INT: isinstance(value, int) and not isinstance(value, bool),
        DECIMAL: isinstance(value, (int, Decimal)) and not isinstance(value, bool),
        STR: isinstance(value, str) and value != "",
        TIMESTAMP: isinstance(value, str) and value != "",
    }[f.kind]
    if not ok:
        raise InvalidItemsError(f"item {position}: {f.name} has the wrong type ({value!r})")
    return Decimal(value) if f.kind == DECIMAL else value


# ---------------------------------------------------------------------------
# Run configuration and object keys

STAGING_PREFIX = "staging/"
RUN_CONFIG_KEYS = ("bucket", "source_key", "json_prefix", "table", "aws_conn_id", "date")


@dataclass(frozen=True)
class RunConfig:
    bucket: str
    source_key: str
    json_prefix: str
    table: str
    aws_conn_id: str
    date: str
    staging_key: str
    final_key: str


def object_keys(source_key: str, json_prefix: str) -> tuple[str, str]:
    """(staging_key, final_key), derived only from the source key: same input, same keys."""
    source_key = source_key.strip()
    if not source_key or source_key.startswith("/") or source_key.endswith("/"):
        raise InvalidRunConfigError(f"source_key {source_key!r} must name an object (no leading or trailing '/')")
    prefix = json_prefix.strip().lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    stem = source_key[:-4] if source_key.lower().endswith(".csv") else source_key  # x.json -> x.json.json
    final_key = f"{prefix}{stem}.json"  # never the source key: it always ends in .json, the stem never does
    return f"{STAGING_PREFIX}{final_key}", final_key


def run_date(explicit: Any, logical_date: datetime | None, run_after: datetime | None) -> str:
    """The run's date as YYYY-MM-DD: explicit ``date`` param, else logical date, else run_after (UTC)."""
    if explicit not in (None, ""):
        text = str(explicit).strip()
        try:
            if len(text) != 10:
                raise ValueError
            date.fromisoformat(text)
        except ValueError:
            raise InvalidRunConfigError(f"date {explicit!r} is not YYYY-MM-DD") from None
        return text
    for moment in (logical_date, run_after):
        if moment is not None:
            if moment.tzinfo is not None:
                moment = moment.astimezone(timezone.utc)
            return moment.strftime("%Y-%m-%d")
    raise InvalidRunConfigError("the run has no logical date, no run_after and no date param")


def resolve_run_config(
    params: Mapping[str, Any],
    conf: Mapping[str, Any] | None,
    logical_date: datetime | None,
    run_after: datetime | None,
) -> RunConfig:
    """Merge params with the trigger conf (conf wins), fill in the date, derive the keys."""
    values = {k: params.get(k) for k in RUN_CONFIG_KEYS}
    for k in RUN_CONFIG_KEYS:
        if conf and conf.get(k) is not None:
            values[k] = conf[k]
    for k in ("bucket", "source_key", "table", "aws_conn_id"):
        if not isinstance(values[k], str) or not values[k].strip():
            raise InvalidRunConfigError(f"param {k!r} must be a non-empty string, got {values[k]!r}")
    json_prefix = values["json_prefix"] if values["json_prefix"] is not None else ""
    day = run_date(values["date"], logical_date, run_after)
    try:
        source_key = values["source_key"].strip().format_map({"ds": day, "ds_nodash": day.replace("-", "")})
    except (KeyError, IndexError, ValueError) as exc:
        raise InvalidRunConfigError(
            f"source_key {values['source_key']!r}: only {{ds}} and {{ds_nodash}} can be filled in ({exc!r})"
        ) from None
    staging_key, final_key = object_keys(source_key, str(json_prefix))
    return RunConfig(
        bucket=values["bucket"].strip(),
        source_key=source_key,
        json_prefix=str(json_prefix),
        table=values["table"].strip(),
        aws_conn_id=values["aws_conn_id"].strip(),
        date=day,
        staging_key=staging_key,
        final_key=final_key,
    )
