"""Bulk writes for the hot paths (consensus of 100,000 clips, release items).

Django's bulk_create builds a model instance and prepares every field of every row in Python
(~250 us a row); these helpers send plain tuples through the driver's executemany instead,
on any backend, inside the caller's transaction. Values must already be database-ready
(ints, floats, strings, JSON as text, aware datetimes).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection


def _chunks(rows: Iterable[Sequence], size: int):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def fast_insert(model, fields: Sequence[str], rows: Iterable[Sequence], *, batch: int = 5000) -> int:
    """INSERT rows (tuples ordered as `fields`, given as model field names).

    No model instances, no `save()`, no signals, no defaults: every NOT NULL column without a
    database default must be among `fields`.

    Args:
        model: the model class whose table receives the rows.
        fields: model field names (mapped to their db columns), the order of each tuple.
        rows: database-ready tuples, consumed lazily.
        batch: rows per `executemany` call.
    Returns:
        The number of rows sent.
    """
    qn = connection.ops.quote_name
    columns = [model._meta.get_field(f).column for f in fields]
    placeholders = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(map(qn, columns))}) VALUES ({placeholders})"
    n = 0
    with connection.cursor() as cursor:
        for chunk in _chunks(rows, batch):
            cursor.executemany(sql, chunk)
            n += len(chunk)
    return n


def fast_update(
    model,
    key: str,
    fields: Sequence[str],
    rows: Iterable[Sequence],
    *,
    where: dict | None = None,
    batch: int = 5000,
) -> int:
    """UPDATE ... SET fields WHERE key = ? [AND field = value ...], one statement per row.

    Args:
        model: the model class whose table is updated.
        key: the model field matched per row (usually "id").
        fields: model field names set, in the order of each tuple.
        rows: tuples (*values in `fields` order, key value), database-ready, consumed lazily.
        where: fixed equality conditions added to every statement ({field name: value}), e.g. the
            project, so a stray key cannot touch another project's row.
        batch: rows per `executemany` call.
    Returns:
        The number of rows sent (not the number matched: a key that matches nothing counts).
    """
    qn = connection.ops.quote_name
    sets = ", ".join(f"{qn(model._meta.get_field(f).column)} = %s" for f in fields)
    extra = list((where or {}).items())
    cond = " AND ".join(f"{qn(model._meta.get_field(f).column)} = %s" for f in [key, *(k for k, _ in extra)])
    sql = f"UPDATE {qn(model._meta.db_table)} SET {sets} WHERE {cond}"
    fixed = tuple(v for _, v in extra)
    n = 0
    with connection.cursor() as cursor:
        for chunk in _chunks(rows, batch):
            cursor.executemany(sql, [(*row, *fixed) for row in chunk])
            n += len(chunk)
    return n
