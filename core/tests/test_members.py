"""The members page's service and API: one code path with `manage.py member_add`, curators of
their own projects only, clear refusals that leave nothing half-written."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from conftest import _user
from core import roles
from core.errors import ApplicationError
from core.models import Project
from core.services import member_invite, member_role_remove

pytestmark = pytest.mark.django_db

URL = "/api/members/"


@pytest.fixture(autouse=True)
def _fast_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def cast(django_user_model):
    a = Project.objects.create(name="A", slug="a")
    b = Project.objects.create(name="B", slug="b")
    return {
        "a": a,
        "b": b,
        "curator_a": _user(django_user_model, "cura", "curator", project=a),
        "curator_b": _user(django_user_model, "curb", "curator", project=b),
        "annotator_a": _user(django_user_model, "anna", "annotator", project=a),
        "ml_a": _user(django_user_model, "mila", "ml_staff", project=a),
    }


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def users_and_links() -> tuple:
    User = get_user_model()
    return (
        sorted(User.objects.values_list("username", "is_staff")),
        sorted(User.groups.through.objects.values_list("user_id", "group_id")),
        sorted(Project.members.through.objects.values_list("project_id", "user_id")),
    )


def test_a_curator_creates_an_annotator_with_a_generated_password_shown_once(cast):
    client = client_for(cast["curator_a"])
    r = client.post(URL, {"project": "a", "username": "sami", "email": "sami@lab.tn", "role": "annotator"})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["created"] and body["user"]["roles"] == ["annotator"] and not body["user"]["is_staff"]
    password = body["generated_password"]
    assert password and len(password) >= 12
    sami = get_user_model().objects.get(username="sami")
    assert sami.check_password(password) and sami.email == "sami@lab.tn"
    assert cast["a"].members.filter(pk=sami.pk).exists() and not cast["b"].members.filter(pk=sami.pk).exists()
    # The list shows them with their role; the password is never shown again.
    listing = client.get(URL, {"project": "a"}).json()
    assert {m["username"]: m["roles"] for m in listing["members"]}["sami"] == ["annotator"]
    assert listing["roles"] == list(roles.ALL_ROLES)
    assert password not in client.get(URL, {"project": "a"}).content.decode()


def test_staff_status_follows_the_role_as_member_add_gives_it(cast):
    client = client_for(cast["curator_a"])
    r = client.post(
        URL, {"project": "a", "username": "fatma", "role": "ml_staff", "password": "lilac-Harbour-93"}
    )
    assert r.status_code == 201 and r.json()["user"]["is_staff"] and r.json()["generated_password"] is None
    fatma = get_user_model().objects.get(username="fatma")
    assert fatma.check_password("lilac-Harbour-93") and fatma.is_staff
    # An existing person gets a second role (200, not created); taking the admin role back ends
    # staff status, taking the last role takes them out of the project.
    r = client.post(URL, {"project": "a", "username": "fatma", "role": "annotator"})
    assert r.status_code == 200 and r.json()["user"]["roles"] == ["annotator", "ml_staff"]
    r = client.post(f"/api/members/{fatma.pk}/remove-role/", {"project": "a", "role": "ml_staff"})
    assert r.status_code == 200 and r.json()["roles"] == ["annotator"] and r.json()["is_staff"] is False
    r = client.post(f"/api/members/{fatma.pk}/remove-role/", {"project": "a", "role": "annotator"})
    assert r.status_code == 200 and r.json()["roles"] == []
    assert not cast["a"].members.filter(pk=fatma.pk).exists()


@pytest.mark.parametrize("who", ["annotator_a", "ml_a"])
def test_non_curators_get_403_and_change_nothing(cast, who):
    before = users_and_links()
    client = client_for(cast[who])
    assert client.get(URL, {"project": "a"}).status_code == 403
    r = client.post(URL, {"project": "a", "username": "x-new", "role": "curator"})
    assert r.status_code == 403 and "curators" in r.json()["detail"]
    r = client.post(
        f"/api/members/{cast['annotator_a'].pk}/remove-role/", {"project": "a", "role": "annotator"}
    )
    assert r.status_code == 403
    assert client.get("/curation/members/").status_code == 403
    assert users_and_links() == before


def test_a_curator_of_b_neither_sees_nor_changes_the_members_of_a(cast):
    before = users_and_links()
    client = client_for(cast["curator_b"])
    r = client.get(URL, {"project": "a"})
    assert r.status_code == 404 and "anna" not in r.content.decode()
    assert "anna" not in client.get(URL).content.decode()  # their own project: B
    assert client.post(URL, {"project": "a", "username": "x-new", "role": "annotator"}).status_code == 404
    r = client.post(
        f"/api/members/{cast['annotator_a'].pk}/remove-role/", {"project": "a", "role": "annotator"}
    )
    assert r.status_code == 404
    r = client.post(
        f"/api/members/{cast['annotator_a'].pk}/remove-role/", {"project": "b", "role": "annotator"}
    )
    assert r.status_code == 404
    # Roles are global groups: giving A's annotator a role from B would give it in A too.
    r = client.post(URL, {"project": "b", "username": "anna", "role": "curator"})
    assert r.status_code == 403 and r.json()["code"] == "foreign_member"
    assert client.get("/curation/members/?project=a").status_code == 404
    assert users_and_links() == before


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"username": "", "role": "annotator"}, 400, "username"),
        ({"username": "bad name!", "role": "annotator"}, 400, "Username refused"),
        ({"username": "ok", "role": "boss"}, 400, "role"),
        ({"username": "ok", "role": "annotator", "email": "not-an-address"}, 400, "E-mail address refused"),
        ({"username": "ok", "role": "annotator", "password": "12345678901"}, 400, "Password refused"),
        ({"username": "ok", "role": "annotator", "password": "short"}, 400, "Password refused"),
        (
            {"username": "anna", "role": "validator", "password": "lilac-Harbour-93"},
            400,
            "password is theirs",
        ),
        ({"username": "ok", "role": "annotator", "project": "zz"}, 404, "No project 'zz'"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_nothing_written(cast, body, status, words):
    before = users_and_links()
    r = client_for(cast["curator_a"]).post(URL, {"project": "a", **body}, format="json")
    assert r.status_code == status, r.content
    assert words in r.json()["detail"]
    assert users_and_links() == before


def test_a_curator_cannot_take_their_own_curator_role(cast):
    r = client_for(cast["curator_a"]).post(
        f"/api/members/{cast['curator_a'].pk}/remove-role/", {"project": "a", "role": "curator"}
    )
    assert r.status_code == 400 and "own curator role" in r.json()["detail"]
    assert cast["curator_a"].groups.filter(name="curator").exists()


def test_the_service_is_the_one_member_add_uses(cast, monkeypatch):
    """The command goes through member_invite too: the same refusal for a weak password."""
    from django.core.management import CommandError, call_command

    monkeypatch.setenv("TUNISER_NEW_USER_PASSWORD", "1234567890")
    before = users_and_links()
    with pytest.raises(CommandError, match="Password refused"):
        call_command("member_add", "neo", "--project", "a", "--role", "annotator", "--create")
    assert users_and_links() == before
    with pytest.raises(ApplicationError, match="Password refused"):
        member_invite(username="neo", project=cast["a"], role="annotator", password="1234567890")
    result = member_invite(username="neo", project=cast["a"], role="validator", by=cast["curator_a"])
    assert result.created and result.generated_password
    member_role_remove(user=result.user, project=cast["a"], role="validator", by=cast["curator_a"])
    assert not cast["a"].members.filter(pk=result.user.pk).exists()


def test_member_add_without_a_terminal_or_password_variable_says_what_to_do(cast, monkeypatch):
    """`member_add ... --create < /dev/null` with no TUNISER_NEW_USER_PASSWORD: a one-line
    CommandError, not getpass's EOFError traceback."""
    import getpass
    import sys

    from django.core.management import CommandError, call_command

    monkeypatch.delenv("TUNISER_NEW_USER_PASSWORD", raising=False)
    # No terminal: getpass falls back to reading stdin, which is /dev/null here.
    monkeypatch.setattr(getpass, "getpass", getpass.fallback_getpass)
    with open("/dev/null") as devnull:
        monkeypatch.setattr(sys, "stdin", devnull)
        before = users_and_links()
        with pytest.raises(CommandError, match="TUNISER_NEW_USER_PASSWORD.*terminal"):
            call_command("member_add", "nopw", "--project", "a", "--role", "annotator", "--create")
    assert users_and_links() == before


def test_a_member_without_a_role_is_told_which_curators_to_ask(
    client, django_user_model, project, curator, outsider
):
    from conftest import _user

    _user(django_user_model, "newcomer", project=project)
    client.force_login(django_user_model.objects.get(username="newcomer"))
    html = client.get("/").content.decode()
    assert 'data-section="no-role"' in html and "<strong>curator</strong>" in html
    assert "outsider" not in html  # another project's curator is not theirs to ask
    assert "member_add" not in html
