"""Who may use which URL: every pattern of the URLconf x every kind of user, expected outcome as data.

The cast (tests/tenancy.py): anonymous; a member of project A with no role; one member of A per
role (annotator, validator, curator, ml_staff); an "outsider" who holds every role but belongs
to project B only. Path ids, body ids and `project` slugs name A's objects.

1. `test_every_url_pattern_is_classified`: each pattern the URLconf resolves is in EXPECTED (a
   new endpoint fails until someone decides who may use it), and nothing in EXPECTED is stale.
2. `test_role_matrix`: each call of EXPECTED is sent by each user; the status must be the one the
   table gives; a refused call (4xx) must change no row; a 2xx answer must not mention the other
   project (MARKER_A / MARKER_B); no call may answer 5xx.
3. `test_cross_project_ids_answer_404`: every call that names an object (path, body or query
   string) is sent by A's users with B's ids instead: 403 or 404, nothing of B in the answer,
   no row changed.

Each call runs in a savepoint that is rolled back, so every call sees the same starting state
and the order of the table does not matter. Admin pages are checked as a group (nobody in the
cast is staff); `media` is checked lightly (per-object rules belong to core.files and its tests).
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from tests.tenancy import FAST_HASHERS, MARKER_A, MARKER_B, Tenant, World, build_world, short_wav

USERS = ("anonymous", "norole", "annotator", "validator", "curator", "ml_staff", "outsider")
A_MEMBERS = USERS[1:6]

# Status shorthands. The API answers an anonymous caller 403 (session authentication first) or
# 401 (token/basic); pages send them to the login form.
ANON = frozenset({401, 403})
LOGIN = 302
FILE = object()  # replaced by a fresh WAV upload in each request


@dataclass(frozen=True)
class Call:
    """One request of the table: method, the kind of object the path id names, body, query."""

    method: str = "GET"
    pk: str | None = None  # a key of Tenant.ids
    body: dict = field(default_factory=dict)  # values: literals, or "@kind" for Tenant.ids[kind]
    query: dict = field(default_factory=dict)
    multipart: bool = False
    path: str | None = None  # `media`: a key of Tenant.files
    filters: bool = False  # the query's ids filter a list: others' ids are dropped, not refused

    @property
    def names_objects(self) -> bool:
        values = [*self.body.values(), *self.query.values()]
        return bool(self.pk or self.path or any(isinstance(v, str) and v.startswith("@") for v in values))


def G(*statuses, **call) -> tuple[Call, tuple]:  # noqa: N802 - reads as a table row
    return Call(method="GET", **call), statuses


def P(*statuses, **call) -> tuple[Call, tuple]:  # noqa: N802
    return Call(method="POST", **call), statuses


# One row per URL pattern name: the calls made, and per call the status of each user in USERS
# order:  anonymous, norole, annotator, validator, curator, ml_staff, outsider.
# The outsider holds every role in project B: where a call names A's objects it must get 404,
# where it names none it gets its own project's data (and must see nothing of A).
WRONG_LOGIN = {"username": "curator", "password": "wrong"}
UPLOAD = {"file": FILE, "project": "@project", "source_title": "Upload", "segment": "false"}
LABEL = {"clip": "@clip", "emotion": "angry", "gender": "female", "time_spent_ms": 4000}
VOTE = {"clip": "@validation_clip", "accept": True, "time_spent_ms": 4000}
RELEASE = {"name": "matrix", "label_set": ["angry", "neutral"], "split": "70/15/15"}
PREDICT = {"file": FILE, "model_version": "@model_version", "mode": "chunk"}
IN_A = {"project": "@project"}
QUOTA = {"emotion": "happy", "gender": "female", "target": 7}
RUNS = {"runs": "@trained_run"}
EVALUATE = {"model_version": "@model_version", "release": "@release", "split": "test"}
EVAL_OF_A = {"model_version": "@model_version", "release": "@release"}
INVITE = {"project": "@project", "username": "newcomer", "role": "annotator", "password": "lilac-Harbour-93"}
EXPECTED: dict[str, list[tuple[Call, tuple]]] = {
    # public, or any signed-in user (the OpenAPI schema and its docs: signed-in users)
    "home": [G(LOGIN, 200, 200, 200, 200, 200, 200)],
    "healthz": [G(200, 200, 200, 200, 200, 200, 200)],
    "favicon": [G(302, 302, 302, 302, 302, 302, 302)],
    "login": [
        G(200, 200, 200, 200, 200, 200, 200),
        P(200, 200, 200, 200, 200, 200, 200, body=WRONG_LOGIN, multipart=True),
        # a FormView answers PUT as POST (Django parses no PUT form: an empty, refused form)
        (Call(method="PUT", body=WRONG_LOGIN, multipart=True), (200, 200, 200, 200, 200, 200, 200)),
    ],
    "logout": [P(302, 302, 302, 302, 302, 302, 302)],
    "schema": [G(ANON, 200, 200, 200, 200, 200, 200)],
    "api-docs": [G(403, 200, 200, 200, 200, 200, 200)],
    # members: curators, of their own projects (the outsider adds to and lists B only)
    "core-api:members": [
        G(ANON, 403, 403, 403, 200, 403, 200),
        G(ANON, 403, 403, 403, 200, 403, 404, query=IN_A),
        P(ANON, 403, 403, 403, 201, 403, 404, body=INVITE),
    ],
    "core-api:member-role-remove": [
        P(ANON, 403, 403, 403, 200, 403, 404, pk="member", body={"project": "@project", "role": "annotator"})
    ],
    # corpus: curators and ML staff (annotators and validators hear only the clip they hold)
    "corpus-api:recordings": [
        G(ANON, 403, 403, 403, 200, 200, 200),
        P(ANON, 403, 403, 403, 201, 201, 404, body=UPLOAD, multipart=True),
    ],
    "corpus-api:recording": [G(ANON, 404, 404, 404, 200, 200, 404, pk="recording")],
    "corpus-api:recording-clips": [G(ANON, 404, 404, 404, 200, 200, 404, pk="recording")],
    "corpus-api:recording-summary": [G(ANON, 404, 404, 404, 200, 200, 404, pk="recording")],
    "corpus-api:recording-peaks": [G(ANON, 404, 404, 404, 200, 200, 404, pk="recording")],
    "corpus-api:recording-segment": [P(ANON, 403, 403, 403, 202, 202, 404, pk="imported_recording")],
    # its segmentation is still queued: 409 for those who may
    "corpus-api:recording-redecode": [
        P(ANON, 403, 403, 403, 409, 409, 404, pk="recording", body={"audio_track": 0})
    ],
    "corpus-api:segmentation-run": [G(ANON, 403, 403, 403, 200, 200, 404, pk="segmentation_run")],
    "corpus-api:clip-audio": [G(ANON, 404, 200, 404, 200, 200, 404, pk="clip")],
    "corpus-api:sources": [G(ANON, 403, 403, 403, 200, 200, 200)],
    "corpus-api:recording-speakers": [G(ANON, 404, 404, 404, 200, 200, 404, pk="recording")],
    "corpus-api:series-speakers": [
        G(ANON, 403, 403, 403, 200, 200, 200),
        G(ANON, 403, 403, 403, 200, 200, 404, query=IN_A),
    ],
    "corpus-api:series-speaker": [
        (
            Call(method="PATCH", pk="series_speaker", body={"name": "Sboui"}),
            (ANON, 403, 403, 403, 200, 200, 404),
        )
    ],
    "corpus-api:series-speaker-merge": [
        P(ANON, 403, 403, 403, 200, 200, 404, pk="series_speaker", body={"other": "@other_series_speaker"})
    ],
    "corpus-api:speaker-cluster-detach": [P(ANON, 403, 403, 403, 201, 201, 404, pk="speaker_cluster")],
    # labelling and validation: only the holder of a clip answers it (409 `not_held` for the
    # rest of its project; the role is checked first, 403)
    "annotation-api:schema": [G(ANON, 200, 200, 200, 200, 200, 404, query=IN_A)],
    "annotation-api:next": [G(ANON, 403, 200, 403, 200, 403, 404, query=IN_A)],
    "annotation-api:submit": [P(ANON, 403, 201, 403, 409, 403, 404, body=LABEL)],
    "annotation-api:skip": [P(ANON, 409, 200, 409, 409, 409, 404, body={"clip": "@clip"})],
    "annotation-api:flag": [P(ANON, 403, 201, 403, 409, 403, 404, body={"clip": "@clip", "reason": "noise"})],
    "annotation-api:me": [G(ANON, 200, 200, 200, 200, 200, 200)],
    "annotation-api:progress": [G(ANON, 403, 403, 403, 200, 403, 404, query=IN_A)],
    # hidden gold checks and annotator standing: curators of the clip's (or member's) project
    "annotation-api:checks": [
        G(ANON, 403, 403, 403, 200, 403, 404, query=IN_A),
        P(ANON, 403, 403, 403, 201, 403, 404, body={"clip": "@gold_clip"}),
    ],
    "annotation-api:check": [(Call(method="DELETE", pk="check_clip"), (ANON, 403, 403, 403, 200, 403, 404))],
    "annotation-api:annotator-standing": [
        P(ANON, 403, 403, 403, 200, 403, 404, pk="member", query=IN_A, body={"action": "resume"})
    ],
    "annotation-api:validation-next": [G(ANON, 403, 403, 200, 200, 403, 404, query=IN_A)],
    "annotation-api:validation-vote": [P(ANON, 403, 403, 201, 409, 403, 404, body=VOTE)],
    "annotation-api:validation-skip": [
        P(ANON, 409, 409, 200, 409, 409, 404, body={"clip": "@validation_clip"})
    ],
    "annotation-api:validation-rejected": [G(ANON, 403, 403, 403, 200, 403, 404, query=IN_A)],
    # the clip list: curators and ML staff, each their own projects' clips
    "annotation-api:clips": [G(ANON, 403, 403, 403, 200, 200, 200)],
    "annotation-api:validation-decision": [
        P(ANON, 403, 403, 403, 201, 403, 404, body={"clip": "@validation_clip", "accept": True})
    ],
    "annotation-api:agreement": [
        G(ANON, 403, 403, 403, 200, 403, 404, query=IN_A),
        # `source` filters: a source outside the project is dropped (200, nothing of it).
        G(ANON, 403, 403, 403, 200, 403, 200, query={"source": "@source"}, filters=True),
    ],
    "annotation-api:annotator-confusions": [G(ANON, 403, 403, 403, 200, 403, 404, query=IN_A)],
    "annotation-api:consensus-recompute": [P(ANON, 403, 403, 403, 200, 403, 404, query=IN_A)],
    "annotation-api:adjudication-queue": [G(ANON, 403, 403, 403, 200, 403, 404, query=IN_A)],
    "annotation-api:adjudicate": [
        P(ANON, 403, 403, 403, 409, 403, 404, body={"clip": "@clip", "decision": "discard"})
    ],
    # quota targets: curators, of their own projects (the outsider lists B's, sets none in A)
    "annotation-api:quota-targets": [
        G(ANON, 403, 403, 403, 200, 403, 200),
        G(ANON, 403, 403, 403, 200, 403, 404, query=IN_A),
        P(ANON, 403, 403, 403, 201, 403, 404, query=IN_A, body=QUOTA),
    ],
    "annotation-api:quota-target": [
        (Call(method="PATCH", pk="quota_target", body={"target": 9}), (ANON, 403, 403, 403, 200, 403, 404)),
        (Call(method="DELETE", pk="quota_target"), (ANON, 403, 403, 403, 204, 403, 404)),
    ],
    # releases: curators
    "releases-api:releases": [
        G(ANON, 403, 403, 403, 200, 403, 404, query=IN_A),
        P(ANON, 403, 403, 403, 201, 403, 404, query=IN_A, body=RELEASE),
    ],
    "releases-api:release": [G(ANON, 403, 403, 403, 200, 403, 404, pk="release")],
    "releases-api:release-export": [P(ANON, 403, 403, 403, 202, 403, 404, pk="release")],
    "releases-api:release-export-detail": [G(ANON, 403, 403, 403, 200, 403, 404, pk="export")],
    # training: ML staff (`runs` filters: others' runs are dropped, 200 with nothing of them)
    "training-api:runs": [
        G(ANON, 403, 403, 403, 403, 200, 200),
        P(ANON, 403, 403, 403, 403, 201, 404, body={"release": "@release", "family": "classical"}),
    ],
    "training-api:run": [G(ANON, 403, 403, 403, 403, 200, 404, pk="run")],
    "training-api:run-cancel": [P(ANON, 403, 403, 403, 403, 200, 404, pk="run")],
    "training-api:run-retry": [P(ANON, 403, 403, 403, 403, 400, 404, pk="run")],  # it is queued
    "training-api:compare": [G(ANON, 403, 403, 403, 403, 200, 200, query=RUNS, filters=True)],
    "training-api:families": [G(ANON, 403, 403, 403, 403, 200, 200)],
    "training-api:model-versions": [G(ANON, 403, 403, 403, 403, 200, 200)],
    # evaluations: ML staff; a body naming A's model and release is another project's for the
    # outsider (404); `model_version`/`release` in the list's query filter (others' ids: nothing)
    "training-api:evaluations": [
        G(ANON, 403, 403, 403, 403, 200, 200),
        G(ANON, 403, 403, 403, 403, 200, 200, query=EVAL_OF_A, filters=True),
        P(ANON, 403, 403, 403, 403, 201, 404, body=EVALUATE),
    ],
    "training-api:evaluation": [G(ANON, 403, 403, 403, 403, 200, 404, pk="evaluation")],
    # inference: ML staff; predictions and their quality for curators too
    "inference-api:predict": [P(ANON, 403, 403, 403, 200, 200, 404, body=PREDICT, multipart=True)],
    "inference-api:prelabeller": [
        P(ANON, 403, 403, 403, 403, 200, 404, body={"model_version": "@model_version"})
    ],
    "inference-api:prelabel-jobs": [P(ANON, 403, 403, 403, 403, 202, 404, query=IN_A)],
    "inference-api:prelabel-job": [G(ANON, 403, 403, 403, 403, 200, 404, pk="prelabel_job")],
    "inference-api:quality": [G(ANON, 403, 403, 403, 200, 200, 404, query=IN_A)],
    "inference-api:predictions": [G(ANON, 403, 403, 403, 200, 200, 200)],
    "inference-api:quotas": [
        G(ANON, 403, 403, 403, 200, 403, 200),
        G(ANON, 403, 403, 403, 200, 403, 404, query=IN_A),
    ],
    # pages
    "core:members": [G(LOGIN, 403, 403, 403, 200, 403, 200)],
    "corpus:recording-list": [G(LOGIN, 403, 403, 403, 200, 200, 200)],
    "corpus:speaker-list": [G(LOGIN, 403, 403, 403, 200, 200, 200)],
    "corpus:recording-upload": [G(LOGIN, 403, 403, 403, 200, 200, 200)],
    "corpus:recording-detail": [G(LOGIN, 403, 403, 403, 200, 200, 404, pk="recording")],
    "annotation:validate": [G(LOGIN, 403, 403, 200, 200, 403, 200)],
    "annotation:annotate": [G(LOGIN, 403, 200, 403, 200, 403, 200)],
    "annotation:progress": [G(LOGIN, 403, 403, 403, 200, 403, 200)],
    "annotation:rejected": [G(LOGIN, 403, 403, 403, 200, 403, 200)],
    "annotation:dashboard": [G(LOGIN, 403, 403, 403, 200, 403, 200)],
    "annotation:adjudication": [G(LOGIN, 403, 403, 403, 200, 403, 200)],
    "annotation:checks": [G(LOGIN, 403, 403, 403, 200, 403, 200)],
    "releases:releases": [G(LOGIN, 403, 403, 403, 200, 403, 200)],
    "training:run-list": [G(LOGIN, 403, 403, 403, 403, 200, 200)],
    "training:run-detail": [G(LOGIN, 403, 403, 403, 403, 200, 404, pk="run")],
    "training:compare": [G(LOGIN, 403, 403, 403, 403, 200, 200, query=RUNS, filters=True)],
    "inference:live": [G(LOGIN, 403, 403, 403, 200, 200, 200)],
    "inference:quality": [G(LOGIN, 403, 403, 403, 200, 200, 200)],
    "inference:quotas": [G(LOGIN, 403, 403, 403, 200, 403, 200)],
    # stored files, per object (core.files decides; the annotators' live-assignment rule is
    # tested in tests/test_file_access.py): a recording's audio and a release manifest are for
    # the curators and ML staff of its project.
    "media": [
        G(LOGIN, 404, 404, 404, 200, 200, 404, path="recording_audio"),
        G(LOGIN, 404, 404, 404, 200, 200, 404, path="manifest"),
    ],
}

# Patterns checked as a group: every admin page answers non-staff users (the whole cast) with a
# redirect to the admin login, except the login page itself.
GROUPS = {"admin:": "admin"}


def _walk(patterns, prefix: str = "", namespace: str | None = None):
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = ":".join(x for x in (namespace, p.namespace) if x) or None
            yield from _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), f"{namespace}:{p.name}" if namespace else p.name


def url_patterns() -> list[tuple[str, str]]:
    """(route, name) of every pattern the root URLconf resolves, in URLconf order."""
    return list(_walk(get_resolver().url_patterns))


def _group(name: str | None) -> str | None:
    return next((g for prefix, g in GROUPS.items() if name and name.startswith(prefix)), None)


def test_every_url_pattern_is_classified():
    unclassified = [
        f"{route} ({name})" for route, name in url_patterns() if name not in EXPECTED and not _group(name)
    ]
    assert not unclassified, f"Classify these URL patterns in EXPECTED (who may use them): {unclassified}"
    names = {name for _, name in url_patterns()}
    assert not set(EXPECTED) - names, f"EXPECTED names patterns that no longer exist: {set(EXPECTED) - names}"
    for name, rows in EXPECTED.items():
        for call, statuses in rows:
            assert len(statuses) == len(USERS), (name, call)


# --- sending calls -------------------------------------------------------------------------------

# Tables whose rows change on every signed-in request whatever the view does.
IGNORED_TABLES = {"django_session", "django_admin_log"}


def _models():
    return [m for m in apps.get_models() if not m._meta.proxy and m._meta.db_table not in IGNORED_TABLES]


def db_fingerprint() -> str:
    """A digest of every row of every model (auth_user's last_login aside): any write shows."""
    digest = hashlib.sha256()
    for model in _models():
        fields = [f.attname for f in model._meta.concrete_fields if f.attname != "last_login"]
        for row in model._base_manager.order_by("pk").values_list(*fields):
            digest.update(repr(row).encode())
        digest.update(model._meta.db_table.encode())
    return digest.hexdigest()


def row_counts() -> tuple[int, ...]:
    """The row count of every model's table, in one query (cheaper than db_fingerprint)."""
    quote = connection.ops.quote_name
    tables = sorted({m._meta.db_table for m in _models()})
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {quote(t)})" for t in tables))
        return tuple(cursor.fetchone())


def call_value(value, tenant: Tenant, wav: bytes):
    if value is FILE:
        return SimpleUploadedFile("probe.wav", wav, content_type="audio/wav")
    if isinstance(value, str) and value.startswith("@"):
        kind = value[1:]
        return tenant.project.slug if kind == "project" else tenant.ids[kind]
    return value


@dataclass
class Outcome:
    status: int
    changed: bool | None  # None: not checked (a 5xx)
    body: str


def send(client: APIClient, name: str, call: Call, tenant: Tenant, wav: bytes) -> Outcome:
    """Send `call` naming `tenant`'s objects, in a savepoint rolled back afterwards."""
    if call.path:
        url = reverse(name, kwargs={"path": tenant.files[call.path]})
    else:
        url = reverse(name, kwargs={"pk": tenant.ids[call.pk]} if call.pk else None)
    query = {k: call_value(v, tenant, wav) for k, v in call.query.items()}
    body = {k: call_value(v, tenant, wav) for k, v in call.body.items()}
    cookies = copy.deepcopy(client.cookies)  # a logout or login must not end the user's session
    cache.clear()  # the API throttles count there: each call starts afresh
    # Writes are checked row by row; reads (which may only add a row, e.g. a hand-out) by count.
    state = row_counts if call.method == "GET" else db_fingerprint
    with transaction.atomic():
        before = state()
        if call.method == "GET":
            response = client.get(url, query)
        else:
            if query:
                url += "?" + urlencode(query)
            response = client.write(call.method, url, body, call.multipart)
        if getattr(response, "streaming", False):  # read to the end: the test client then closes it
            text = b"".join(response.streaming_content).decode(errors="replace")
        else:
            text = response.content.decode(errors="replace")
        changed = state() != before if response.status_code < 500 else None
        transaction.set_rollback(True)
    client.cookies = cookies
    return Outcome(response.status_code, changed, text)


class Client(APIClient):
    def write(self, method: str, url: str, body: dict, multipart: bool):
        return getattr(self, method.lower())(url, body, format="multipart" if multipart else "json")


def clients(world: World) -> dict[str, Client]:
    out = {}
    for name in USERS:
        client = Client()
        client.raise_request_exception = False  # a server error is a status to report
        if name != "anonymous":
            client.force_login(world.users[name])
        out[name] = client
    return out


def _matches(status: int, expected) -> bool:
    return status in expected if isinstance(expected, frozenset) else status == expected


@pytest.fixture
def world(django_user_model, data_dir, tmp_path, settings) -> World:
    settings.PASSWORD_HASHERS = FAST_HASHERS
    return build_world(django_user_model=django_user_model, data_dir=data_dir, tmp_path=tmp_path)


@pytest.fixture
def wav(data_dir, tmp_path) -> bytes:
    return short_wav(data_dir, tmp_path)


@pytest.mark.django_db
def test_role_matrix(world, wav):
    by_user = clients(world)
    problems, checks, patterns = [], 0, set()
    for name, rows in EXPECTED.items():
        for call, statuses in rows:
            patterns.add(name)
            for user, expected in zip(USERS, statuses, strict=True):
                out = send(by_user[user], name, call, world.a, wav)
                checks += 1
                where = f"{call.method} {name} as {user}"
                if not _matches(out.status, expected):
                    problems.append(f"{where}: {out.status}, expected {expected}: {out.body[:200]}")
                if out.status < 500 and out.status >= 400 and out.changed:
                    problems.append(f"{where}: refused with {out.status} but rows changed")
                foreign = MARKER_A if user == "outsider" else MARKER_B
                if 200 <= out.status < 300 and foreign in out.body:
                    problems.append(f"{where}: the answer mentions the other project ({foreign})")
    # The admin as a group: nobody in the cast is staff.
    admin_checks = 0
    for route, pname in url_patterns():
        if _group(pname) != "admin" or "<" in route:
            continue
        for user in USERS:
            response = by_user[user].get("/" + route)
            admin_checks += 1
            expected = 200 if pname == "admin:login" else 302
            if response.status_code != expected:
                problems.append(f"GET {pname} as {user}: {response.status_code}, expected {expected}")
    print(
        f"\naccess matrix: {len(patterns)} patterns (+ admin as a group) x {len(USERS)} users = "
        f"{checks} checks (+ {admin_checks} admin checks); {len(problems)} problems"
    )
    assert not problems, "\n".join(problems)


@pytest.mark.django_db
def test_cross_project_ids_answer_404(world, wav):
    """A's people name B's objects (path, body, query string): 403 or 404, never B's data."""
    by_user = clients(world)
    problems, probes = [], 0
    for name, rows in EXPECTED.items():
        for call, _ in rows:
            if not call.names_objects:
                continue
            for user in A_MEMBERS:
                out = send(by_user[user], name, call, world.b, wav)
                probes += 1
                where = f"{call.method} {name} as {user} of A with B's ids"
                if out.status not in (403, 404) and not (call.filters and out.status == 200):
                    problems.append(f"{where}: {out.status}: {out.body[:200]}")
                if out.changed:
                    problems.append(f"{where}: rows changed")
                if MARKER_B in out.body:
                    problems.append(f"{where}: the answer mentions project B")
    print(
        f"\ncross-project: {probes} probes of B's ids by A's {len(A_MEMBERS)} members; {len(problems)} leaks"
    )
    assert not problems, "\n".join(problems)
