"""Bad numbers, wrong types and huge strings are refused with a 4xx, never a 5xx, and write nothing.

Every write endpoint the URLconf routes (a view with post/put/patch/delete) is sent, by the user
its access-matrix row lets act (tests/test_access_matrix.py EXPECTED), its valid request with one
field at a time replaced by each value of BAD (out-of-range integers for 32- and 64-bit columns,
NaN and infinities as JSON tokens and as strings, lists, objects, strings for numbers and numbers
for strings, a 1 MB string), and each query parameter and path id replaced by out-of-range ids.
The fields come from the request serializers, through the OpenAPI schema drf-spectacular
generates (a form view's fields from its form). GET endpoints get the query-string part too.

Each request runs in a savepoint rolled back afterwards. A 5xx is a failure; so is a refused
request (4xx) after which the row count of any model changed. A request that legitimately
succeeds (2xx, e.g. a label of 12345 characters for a name that allows it) is only required not to
have failed. Run on SQLite by default; with DATABASE_URL=postgres://... on PostgreSQL, where an
`integer` column overflows at 2**31.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.db import connection, reset_queries, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import resolve, reverse
from drf_spectacular.generators import SchemaGenerator

from tests.tenancy import FAST_HASHERS, World, build_world, short_wav
from tests.test_access_matrix import EXPECTED, USERS, Call, call_value, clients, row_counts, url_patterns
from training.ml import families

HUGE = "x" * (1 << 20)
# Each body field is replaced, one at a time, by each of these (JSON; a multipart form sends the
# text of each, lists and objects as their JSON).
BAD = [
    2**31,
    2**63,
    2**64,
    2**70,
    -1,
    -(2**63) - 1,
    float("nan"),
    float("inf"),
    float("-inf"),
    "NaN",
    "Infinity",
    "1e309",
    str(2**70),
    [1, 2],
    {"a": 1},
    "abc",
    12345,
    True,
    None,
    HUGE,
]
# The keys sent inside object fields (each with each BAD value): the training hyper-parameters.
NESTED_KEYS = {"hparams": sorted(families.default_hparams("classical"))}
# Query parameters and path ids.
BAD_IDS = [2**31, 2**63, 2**64, 2**70, -1, "NaN", "1e309", "x" * 10_000]
PATH_IDS = [0, 2**31, 2**63, 2**64, 2**70]


def _schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


WRITE_METHODS = ("post", "put", "patch", "delete")


@dataclass
class Endpoint:
    """One call of the access table, ready to be fuzzed."""

    name: str
    route: str
    call: Call
    user: str  # who sends it: the first user the table lets act
    body_fields: dict[str, str | None]  # name -> OpenAPI type ("array", "object", ...)
    query_params: list[str]
    multipart: bool

    @property
    def writes(self) -> bool:
        return self.call.method.lower() in WRITE_METHODS


def _schema_path(route: str) -> str:
    # drf-spectacular names a `pk` path parameter `id`.
    return "/" + re.sub(
        r"<(?:\w+:)?(\w+)>", lambda m: "{%s}" % ("id" if m.group(1) == "pk" else m.group(1)), route
    )


def _acting_user(statuses: tuple) -> str:
    """Who sends the fuzz: the first user the table lets succeed (2xx), else the first who gets
    past the access checks (e.g. 409 for a clip nobody may adjudicate), else the first redirected."""
    given = [(u, s) for u, s in zip(USERS, statuses, strict=True) if isinstance(s, int)]
    for admitted in (
        lambda s: 200 <= s < 300,
        lambda s: 400 <= s < 500 and s not in (401, 403, 404),
        lambda s: s < 400,
    ):
        if users := [u for u, s in given if admitted(s)]:
            return users[0]
    raise LookupError(f"nobody gets past the access checks: {statuses}")


def endpoints(schema: dict) -> list[Endpoint]:
    """Every call of EXPECTED (admin aside), with its fields: body fields and query parameters
    from the operation's OpenAPI description, or a form view's form fields."""
    components = schema["components"]["schemas"]
    out = []
    for route, name in url_patterns():
        if name not in EXPECTED:
            continue  # the admin: a group, with its own tests
        view = resolve("/" + re.sub(r"<(?:\w+:)?(\w+)>", "1", route)).func
        view_class = getattr(view, "view_class", None) or getattr(view, "cls", None)
        # Every write the view answers has a row to fuzz (a function view, a page, has none).
        untested = {m for m in WRITE_METHODS if hasattr(view_class, m)} - {
            c.method.lower() for c, _ in EXPECTED[name]
        }
        assert not untested, f"{name} answers {untested}: add a row for it in EXPECTED"
        for call, statuses in EXPECTED[name]:
            method = call.method.lower()
            if method in WRITE_METHODS:
                assert hasattr(view_class, method), f"{name} has no {method}"
            op = schema["paths"].get(_schema_path(route), {}).get(method)
            if op is None:  # not part of the API: a Django form view, or a page
                form = getattr(view_class, "form_class", None)
                body, query, multipart = dict.fromkeys(form().fields if form else []), [], True
            else:
                content = op.get("requestBody", {}).get("content", {})
                multipart = "application/json" not in content
                body_schema = (
                    content.get("application/json") or content.get("multipart/form-data") or {}
                ).get("schema", {})
                if "$ref" in body_schema:
                    body_schema = components[body_schema["$ref"].split("/")[-1]]
                body = {k: v.get("type") for k, v in body_schema.get("properties", {}).items()}
                query = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
            out.append(
                Endpoint(
                    name=name,
                    route=route,
                    call=call,
                    user=_acting_user(statuses),
                    body_fields=body,
                    query_params=sorted({*query, *call.query}),
                    multipart=multipart or call.multipart,
                )
            )
    return out


def _multipart_text(value) -> str:
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return "" if value is None else str(value)


def requests_for(ep: Endpoint, world: World, wav: bytes):
    """(description, url, data, content_type) of every bad request for `ep`."""
    tenant = world.a

    def url_for(pk=None, query=None) -> str:
        if ep.call.path:
            url = reverse(ep.name, kwargs={"path": tenant.files[ep.call.path]})
        else:
            pk = pk if pk is not None else (tenant.ids[ep.call.pk] if ep.call.pk else None)
            url = reverse(ep.name, kwargs={"pk": pk} if pk is not None else None)
        query = {k: call_value(v, tenant, wav) for k, v in ep.call.query.items()} | (query or {})
        return f"{url}?{urlencode(query)}" if query else url

    def encoded(replace: dict | None = None):
        body = {k: call_value(v, tenant, wav) for k, v in ep.call.body.items()} | (replace or {})
        if not ep.writes:
            return None, None
        if ep.multipart:
            return {
                k: v if k == "file" and hasattr(v, "read") else _multipart_text(v) for k, v in body.items()
            }, None
        return json.dumps(body, allow_nan=True), "application/json"  # NaN and Infinity as bare tokens

    if ep.writes:
        for field, kind in ep.body_fields.items():
            for value in BAD:
                yield (f"{field}={str(value)[:24]}", url_for(), *encoded({field: value}))
                # inside containers: a list's item, a known key of an object
                if kind == "array":
                    yield (f"{field}=[{str(value)[:24]}]", url_for(), *encoded({field: [value]}))
                for key in NESTED_KEYS.get(field, []) if kind == "object" else []:
                    yield (f"{field}.{key}={str(value)[:24]}", url_for(), *encoded({field: {key: value}}))
    for param in ep.query_params:
        for value in BAD_IDS:
            yield (f"?{param}={str(value)[:24]}", url_for(query={param: value}), *encoded())
    if ep.call.pk:
        for value in PATH_IDS:
            yield (f"pk={value}", url_for(pk=value), *encoded())


@pytest.fixture
def world(django_user_model, data_dir, tmp_path, settings) -> World:
    settings.PASSWORD_HASHERS = FAST_HASHERS  # each refused login hashes once: keep it cheap
    return build_world(django_user_model=django_user_model, data_dir=data_dir, tmp_path=tmp_path)


@pytest.mark.django_db
def test_bad_numbers_types_and_sizes_never_answer_5xx(world, data_dir, tmp_path, caplog):
    caplog.set_level(logging.CRITICAL, logger="django.request")  # 5xx are collected, not logged
    wav = short_wav(data_dir, tmp_path)
    started = time.monotonic()
    by_user = clients(world)
    before = row_counts()  # every request starts from here: each one's savepoint is rolled back
    eps = endpoints(_schema())
    failures, sent = [], 0
    for ep in eps:
        cache.clear()  # the API throttles count there
        client = by_user[ep.user]
        method = getattr(client, ep.call.method.lower())
        for what, url, data, content_type in requests_for(ep, world, wav):
            where = f"{ep.call.method} {ep.name} as {ep.user} {what}"
            reset_queries()  # the capture below reads the connection's log, which holds 9000 queries
            with transaction.atomic(), CaptureQueriesContext(connection) as queries:
                if data is None:
                    response = method(url)
                elif content_type:
                    response = method(url, data, content_type=content_type)
                else:
                    response = method(url, data, format="multipart")
                sent += 1
                # Counts are taken again only after an INSERT or DELETE (they cost 5 ms on PostgreSQL).
                wrote = any(q["sql"].lstrip()[:6].upper() in ("INSERT", "DELETE") for q in queries)
                if response.status_code >= 500:
                    failures.append(f"{where}: {response.status_code}")
                elif response.status_code >= 400 and wrote and row_counts() != before:
                    failures.append(f"{where}: refused with {response.status_code} but row counts changed")
                transaction.set_rollback(True)
    n_writes = sum(ep.writes for ep in eps)
    print(
        f"\nfuzz ({connection.vendor}): {sent} requests to {len(eps)} calls ({n_writes} writes) in "
        f"{time.monotonic() - started:.1f} s; {len(failures)} failures"
    )
    assert not failures, "\n".join(failures)
