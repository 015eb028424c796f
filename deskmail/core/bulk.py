"""Many rows in few statements: inserted with COPY, updated from a list of values.

`insert_rows` inserts new rows and gives each its primary key, taken from the
table's sequence in one query first (`reserve_keys`, which also serves rows that
need their key before they are written). On PostgreSQL it sends the rows with
`COPY`: Django's `bulk_create` there sends each column as one array literal,
which psycopg escapes in Python element by element; for a batch of messages
(bodies, headers, traces) that cost more than the database spent storing them.
On SQLite it sends one prepared INSERT for all the rows (`executemany`):
building `bulk_create`'s statement took a quarter of an import's main thread.
Either way each value goes through its field's `pre_save` and
`get_db_prep_save`, as `save()` and `bulk_create` do.

`update_rows` writes some columns of many rows with one UPDATE joined to a list
of values.

Django's `bulk_update` writes a `CASE WHEN pk = ... THEN ...` for every row and
column. Building that statement is quadratic work in Python: for a batch of 400
tickets and 11 columns it took longer than everything the database did for the
batch. `update_rows` sends the same rows as

    UPDATE t SET a = v.column2, b = v.column3 FROM (VALUES (...), (...)) AS v
    WHERE t.pk = v.column1

which PostgreSQL and SQLite (3.33 and later) both run. Like `bulk_update`, it
calls no `save()` and sends no signals; values go through each field's
`get_db_prep_save`, so they are stored exactly as `save()` would store them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections, models, transaction
from django.db.models import ForeignObjectRel

# Rows per statement, fewer when a row has so many columns that SQLite's limit
# of 32,766 parameters per statement would be near.
ROWS_PER_STATEMENT = 500
_PARAMETERS = 30_000


def reserve_keys(model: type[models.Model], count: int, *, using: str = "default") -> list[int]:
    """count new primary keys of model, in ascending order, taken in one statement.

    On PostgreSQL they come from the table's sequence. On SQLite (Django's keys
    there are AUTOINCREMENT) the table's row in `sqlite_sequence` moves past
    them; the transaction holds the database's write lock until it ends, so no
    one else takes them meanwhile. A row given one of them may be inserted later
    in the transaction: foreign keys are checked at the commit. Keys never used
    leave a gap, as a rollback does.
    """
    meta = model._meta
    assert meta.pk is not None
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [meta.db_table, meta.pk.column, count],
            )
            return sorted(row[0] for row in cursor.fetchall())
        assert connection.vendor == "sqlite", f"no keys ahead on {connection.vendor}"
        table, column = connection.ops.quote_name(meta.db_table), str(meta.pk.column)
        # The row is missing until the table's first insert; the highest key is the
        # floor should the row ever lag behind it.
        with transaction.atomic(using=using):
            return _sqlite_keys(cursor, meta.db_table, table, column, count)


def _sqlite_keys(cursor: Any, name: str, table: str, column: str, count: int) -> list[int]:
    cursor.execute(
        "INSERT INTO sqlite_sequence (name, seq) SELECT %s, 0 "
        "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = %s)",
        [name, name],
    )
    cursor.execute(
        "UPDATE sqlite_sequence SET seq = max(seq, "  # noqa: S608 - names from the model
        f'(SELECT coalesce(max("{column}"), 0) FROM {table})) + %s '
        "WHERE name = %s RETURNING seq",
        [count, name],
    )
    (last,) = cursor.fetchone()
    return list(range(last - count + 1, last + 1))


def insert_rows[M: models.Model](objs: Sequence[M], *, using: str = "default") -> None:
    """Insert new rows of one model, as `bulk_create` would; a row without a pk gets one.

    A row may carry a key from `reserve_keys` already.
    """
    if not objs:
        return
    model = type(objs[0])
    connection = connections[using]
    meta = model._meta
    quote = connection.ops.quote_name
    fields = [field for field in meta.concrete_fields if not field.generated]
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="insert_rows")  # type: ignore[attr-defined]
    unkeyed = [obj for obj in objs if obj.pk is None]
    if unkeyed:
        # In the order they were given, as bulk_create numbers them.
        keys = reserve_keys(model, len(unkeyed), using=using)
        for obj, key in zip(unkeyed, keys, strict=True):
            obj.pk = key
    rows = (
        [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
        for obj in objs
    )
    table, columns = quote(meta.db_table), ", ".join(quote(str(f.column)) for f in fields)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(fields))
            # Every name comes from the model, every value is a parameter.
            sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608
            cursor.executemany(sql, list(rows))
    for obj in objs:
        obj._state.adding = False
        obj._state.db = using


def update_rows(
    objs: Sequence[models.Model], field_names: Sequence[str], *, using: str = "default"
) -> int:
    """Write field_names of every obj (saved rows of one model); the number of rows updated."""
    if not objs:
        return 0
    meta = objs[0]._meta
    connection = connections[using]
    quote = connection.ops.quote_name
    fields = [_column(meta.get_field(name)) for name in field_names]
    assert meta.pk is not None and meta.pk.column is not None
    # Both databases name the columns of a VALUES list column1, column2, ...
    aliases = [f"column{index}" for index in range(1, len(fields) + 2)]
    # PostgreSQL types a VALUES column from its literals (text, unless they say more):
    # each value is cast to its column's type. SQLite takes the values as they are.
    if connection.vendor == "postgresql":
        targets = [
            f"CAST(v.{alias} AS {field.db_type(connection)})"
            for alias, field in zip(aliases[1:], fields, strict=True)
        ]
    else:
        targets = [f"v.{alias}" for alias in aliases[1:]]
    table = quote(meta.db_table)
    assignments = ", ".join(
        f"{quote(str(field.column))} = {target}"
        for field, target in zip(fields, targets, strict=True)
    )
    row = "(" + ", ".join(["%s"] * len(aliases)) + ")"
    updated = 0
    with connection.cursor() as cursor:
        step = max(1, min(ROWS_PER_STATEMENT, _PARAMETERS // len(aliases)))
        for start in range(0, len(objs), step):
            chunk = objs[start : start + step]
            params: list[Any] = []
            for obj in chunk:
                params.append(obj.pk)
                params.extend(
                    field.get_db_prep_save(getattr(obj, field.attname), connection)
                    for field in fields
                )
            # Every name comes from the model, every value is a parameter.
            values = ", ".join([row] * len(chunk))
            sql = f"UPDATE {table} SET {assignments} FROM (VALUES {values}) AS v "  # noqa: S608
            cursor.execute(f"{sql}WHERE {table}.{quote(meta.pk.column)} = v.column1", params)
            updated += cursor.rowcount
    return updated


def _column(field: models.Field[Any, Any] | ForeignObjectRel) -> models.Field[Any, Any]:
    if not isinstance(field, models.Field) or field.column is None:
        raise ValueError(f"{field.name} is no column of its table")
    return field
