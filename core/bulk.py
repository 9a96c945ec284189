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
    """INSERT rows (tuples ordered as `fields`, given as model field names)."""
    qn = connection.ops.quote_name
    columns = [model._meta.get_field(f).column for f in fields]
    sql = f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(map(qn, columns))}) VALUES ({', '.join(['%s'] * len(columns))})"
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
    """UPDATE ... SET fields WHERE key = ? [AND field = value ...]; each row is
    (*values in `fields` order, key value); `where` adds fixed equality conditions."""
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
