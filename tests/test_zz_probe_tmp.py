import time
import pytest
from django.urls import get_resolver, URLResolver
from rest_framework.test import APIClient
from tests.tenancy import build_world

def walk(patterns, prefix='', ns=None):
    for p in patterns:
        if isinstance(p, URLResolver):
            n = ':'.join(x for x in (ns, p.namespace) if x) or None
            yield from walk(p.url_patterns, prefix + str(p.pattern), n)
        else:
            yield prefix + str(p.pattern), (f'{ns}:{p.name}' if ns else p.name), p.callback

@pytest.mark.django_db
def test_probe(django_user_model, data_dir, tmp_path):
    t0 = time.monotonic()
    w = build_world(django_user_model=django_user_model, data_dir=data_dir, tmp_path=tmp_path)
    print("build", time.monotonic() - t0)
    print(w.a.ids, w.b.ids, w.a.files)
    users = {"anon": None, **w.users}
    for route, name, cb in walk(get_resolver().url_patterns):
        if route.startswith("admin/"):
            continue
        url = "/" + route.replace("<int:pk>", str(w.a.ids.get("recording"))).replace("<path:path>", w.a.files["clip_audio"])
        row = []
        for u, user in users.items():
            c = APIClient()
            if user: c.force_login(user)
            r = c.get(url)
            row.append(f"{u}={r.status_code}")
        print("GET", name, url, " ".join(row))
    print("total", time.monotonic() - t0)
