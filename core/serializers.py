"""Bounded serializer fields: every number a request carries is checked at the serializer.

A number the database cannot hold must be a 400 that names the field, on SQLite and PostgreSQL
alike, never a 500 from deep inside a query: SQLite raises OverflowError past 2**63 - 1, and
PostgreSQL's `integer` (Django's IntegerField, PositiveIntegerField) overflows at 2**31, its
`bigint` (BigAutoField ids) at 2**63. DRF's IntegerField has no bound of its own; its FloatField
already refuses NaN and the infinities.

Invariant: every integer a request body or query string carries is read through one of these
fields (tests/test_fuzz.py sends each write endpoint 2**31, 2**63, 2**64, 2**70 and -1 in every
field).
"""

from __future__ import annotations

from rest_framework import serializers

# The largest value of PostgreSQL's `integer`: the ceiling of every id and count a request may give.
INT32_MAX = 2**31 - 1
DAY_MS = 24 * 3600 * 1000


class IdField(serializers.IntegerField):
    """The id of a row (1 .. 2**31 - 1): larger ids name no row of any installation this serves."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", INT32_MAX)
        super().__init__(**kwargs)


class CountField(serializers.IntegerField):
    """A count or size given by a person (0 .. 2**31 - 1 unless narrowed by min/max_value)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", INT32_MAX)
        super().__init__(**kwargs)


class MillisecondsField(serializers.IntegerField):
    """A duration in milliseconds (0 .. 24 h), e.g. the time a person spent on an answer."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", DAY_MS)
        super().__init__(**kwargs)


class IdListField(serializers.ListField):
    """A list of row ids (at most `max_length`, default 1000), each an IdField."""

    def __init__(self, **kwargs):
        kwargs.setdefault("child", IdField())
        kwargs.setdefault("max_length", 1000)
        super().__init__(**kwargs)


class IdCsvField(serializers.CharField):
    """Ids in one comma-separated string ("3,5,8"), as a query parameter carries them.

    Returns a list of ints, each checked as an IdField (blank parts are skipped).
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("max_length", 12 * 1000)  # 1000 ids of 10 digits and a comma
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> list[int]:
        text = super().to_internal_value(data)
        return IdListField().run_validation([part.strip() for part in text.split(",") if part.strip()])
