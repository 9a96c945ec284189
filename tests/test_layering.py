"""The apps' layering, read from the source (an AST walk; nothing is imported or run).

1. Imports point down the stack: core < corpus < annotation < releases < training < inference.
   `tuniser` (settings, urls, celery), `tests` and `benchmarks` sit above every app; an app imports
   from `tuniser` only what is listed in TUNISER_ALLOWED. Imports inside functions count, and so do
   `import_module("...")` with a literal name and model fields that name their target as a string
   ("app.Model"). Migrations are skipped (historical models are cross-app by design).
2. The Django-free numerical code (corpus/vad, training/ml, annotation/agreement.py, with
   core/constants.py that they share) imports no Django and no app module but each other;
   `core`'s own Django imports are the ones listed in CORE_FRAMEWORK_IMPORTS (nothing new).
3. Views do not write to the ORM: in `apis.py` and `views.py`, no call of .save(), .delete(),
   .create(), .update(), .bulk_create(), .bulk_update(), .get_or_create() or .update_or_create()
   on anything (a dict's .update() too: write `d |= {...}` there);
   writes go through the app's services. (`admin.py` is exempt.)

Each failure lists every offender as file:line.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

APPS = ("core", "corpus", "annotation", "releases", "training", "inference")
RANK = {app: i for i, app in enumerate(APPS)}
# Above every app; may import anything. Apps may import from them only what is allowed below.
TOP = ("tuniser", "tests", "benchmarks")

# What an app may import from `tuniser`: (module imported, files allowed, reason).
TUNISER_ALLOWED = [
    (
        "tuniser",
        "*",
        "the package itself, only for `tuniser.__version__` (stamped on releases and model versions)",
    ),
    ("tuniser.__version__", "*", "the platform version"),
    (
        "tuniser.embedded_redis.EmbeddedRedis",
        "*/management/commands/runstack.py",
        "`runstack` starts the whole platform (broker, worker, web server); Django finds management "
        "commands only in installed apps, and `tuniser` is not one",
    ),
]
# Not allowed although it exists: `tuniser.celery` (and `tuniser.celery_app`). Tasks bind to the
# app through `celery.shared_task`; no app imports the Celery app today, so none may start to.

# Django and the Django packages: none in the Django-free code.
FRAMEWORK = ("django", "rest_framework", "drf_spectacular")

# Django-free code: these files and packages (with the empty app __init__.py files on their
# import path). They may import, from the project, only each other.
PURE = (
    "core/constants.py",
    "core/display.py",
    "core/logs.py",
    "corpus/vad",
    "training/ml",
    "annotation/agreement.py",
)
PURE_INIT = ("core/__init__.py", "corpus/__init__.py", "training/__init__.py", "annotation/__init__.py")
PURE_MODULES = (
    "core.constants",
    "core.display",
    "core.logs",
    "corpus.vad",
    "training.ml",
    "annotation.agreement",
)

# `core` is a Django app (models, admin, DRF helpers): its framework imports as they were when this
# test was written, file by file. A new one is a decision: add it here with the reason.
CORE_FRAMEWORK_IMPORTS = {
    "core/access.py": {
        "django.core.exceptions",
        "django.db.models",
        "django.http",
        "rest_framework.permissions",
    },
    # ProjectScopedAdmin limits relation choices (ForeignKey/ManyToManyField formfields); the
    # readable-value helpers build safe HTML (tables, <pre>) and links to admin change pages.
    "core/admin.py": {
        "django.contrib",
        "django.db.models",
        "django.urls",
        "django.utils.html",
        "django.utils.safestring",
    },
    # After every migrate: every app's permissions, then the role groups with theirs.
    "core/apps.py": {"django.apps", "django.db.models.signals", "django.contrib.auth.management"},
    "core/bulk.py": {"django.db"},
    "core/errors.py": {
        "django.core.exceptions",
        "rest_framework",
        "rest_framework.response",
        "rest_framework.views",
    },
    # django.db: the heartbeat thread's own connection; module_loading: the sweep resolves each
    # registered job type's task by its dotted path, so that core imports no app.
    "core/jobs.py": {"django.db", "django.db.models", "django.utils", "django.utils.module_loading"},
    "core/management/commands/jobs_sweep.py": {"django.core.management.base"},
    "core/models.py": {"django.conf", "django.db", "django.db.models", "django.utils"},
    # The bounded request fields every app's serializers share (ids, counts, durations).
    "core/serializers.py": {"rest_framework"},
    # Role groups with their model permissions, and project membership (Django's auth models);
    # a new person's username, e-mail and password checked as Django checks them.
    "core/services.py": {
        "django.contrib.auth",
        "django.contrib.auth.models",
        "django.core.exceptions",
        "django.core.validators",
        "django.db",
    },
    # The members page's API and reads (a project's people and their role groups).
    "core/apis.py": {
        "drf_spectacular.utils",
        "rest_framework",
        "rest_framework.response",
        "rest_framework.views",
    },
    "core/selectors.py": {"django.contrib.auth", "django.contrib.auth.models", "django.db.models"},
    "core/urls.py": {"django.urls"},
    # Every list is paged on the server: DRF's pagination (bounded, validated) and Django's for pages.
    "core/pagination.py": {"django.core.paginator", "rest_framework", "rest_framework.pagination"},
    # The lists' shared filters: a FilterSet's `search` (Q) and a strict DRF ordering filter.
    "core/filters.py": {"django", "django.db.models", "rest_framework", "rest_framework.filters"},
    # The one file route (media), with Range requests, behind core.files.
    "core/views.py": {
        "django.conf",
        "django.core.exceptions",
        "django.http",
        "django.shortcuts",
        "django.utils._os",
    },
    "core/management/commands/member_add.py": {
        "django.contrib.auth",
        "django.core.exceptions",
        "django.core.management.base",
    },
}

WRITE_METHODS = (
    "save",
    "delete",
    "create",
    "update",
    "bulk_create",
    "bulk_update",
    "get_or_create",
    "update_or_create",
)
VIEW_FILES = ("apis.py", "views.py")
RELATION_FIELDS = ("ForeignKey", "OneToOneField", "ManyToManyField")


@dataclass(frozen=True)
class Import:
    path: str  # relative to the repository, with forward slashes
    line: int
    target: str  # absolute dotted name: a module, or module.name for `from module import name`
    module: str  # the module part alone
    how: str  # the statement as written

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.how}"


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def _app_files(app: str) -> list[Path]:
    return sorted(p for p in (REPO / app).rglob("*.py") if "migrations" not in p.relative_to(REPO).parts)


def _package(rel: str) -> str:
    """The package a relative import in this file starts from."""
    parts = rel.removesuffix(".py").split("/")
    return ".".join(parts[:-1])


@cache
def _tree(rel: str) -> ast.Module:
    return ast.parse((REPO / rel).read_text(encoding="utf-8"), filename=rel)


@cache
def _imports(rel: str) -> tuple[Import, ...]:
    """Every import of a file, at any depth, made absolute."""
    found: list[Import] = []
    for node in ast.walk(_tree(rel)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(rel, node.lineno, alias.name, alias.name, f"import {alias.name}"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package(rel).split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            written = "." * node.level + (node.module or "")
            for alias in node.names:
                found.append(
                    Import(
                        rel,
                        node.lineno,
                        f"{module}.{alias.name}",
                        module,
                        f"from {written} import {alias.name}",
                    )
                )
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            value = node.args[0].value
            if name in ("import_module", "__import__") and isinstance(value, str):
                found.append(Import(rel, node.lineno, value, value, f'{name}("{value}")'))
            elif name in RELATION_FIELDS and isinstance(value, str) and "." in value:
                app = value.split(".")[0]
                found.append(Import(rel, node.lineno, app, app, f'{name}("{value}")'))
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            for kw in node.keywords:
                if (
                    name in RELATION_FIELDS
                    and kw.arg == "to"
                    and isinstance(kw.value, ast.Constant)
                    and isinstance(kw.value.value, str)
                    and "." in kw.value.value
                ):
                    app = kw.value.value.split(".")[0]
                    found.append(Import(rel, node.lineno, app, app, f'{name}(to="{kw.value.value}")'))
    return tuple(found)


def _matches(pattern: str, rel: str) -> bool:
    return pattern == "*" or Path(rel).match(pattern)


def _tuniser_allowed(imp: Import) -> bool:
    return any(imp.target == target and _matches(files, imp.path) for target, files, _ in TUNISER_ALLOWED)


def _tuniser_attribute_uses(rel: str) -> list[str]:
    """After `import tuniser`, only `tuniser.__version__` may be used."""
    return [
        f"{rel}:{node.lineno}: tuniser.{node.attr}"
        for node in ast.walk(_tree(rel))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "tuniser"
        and node.attr != "__version__"
    ]


def _report(title: str, offenders: list[str]) -> None:
    if offenders:
        listing = "\n".join(f"  {o}" for o in offenders)
        pytest.fail(f"{title} ({len(offenders)}):\n{listing}", pytrace=False)


def test_the_app_list_is_the_settings_list():
    """The order above is the one INSTALLED_APPS documents (and every app has source here)."""
    settings_tree = ast.parse((REPO / "tuniser" / "settings.py").read_text(encoding="utf-8"))
    installed = next(
        ast.literal_eval(node.value)
        for node in settings_tree.body
        if isinstance(node, ast.Assign)
        and any(getattr(t, "id", "") == "INSTALLED_APPS" for t in node.targets)
    )
    assert tuple(a for a in installed if (REPO / a / "apps.py").is_file()) == APPS


@pytest.mark.parametrize("app", APPS)
def test_app_imports_only_lower_apps(app):
    offenders = []
    for path in _app_files(app):
        rel = _rel(path)
        for imp in _imports(rel):
            top = imp.target.split(".")[0]
            if top in RANK and RANK[top] > RANK[app]:
                offenders.append(f"{imp}  ({app} must not import {top}: it is above)")
            elif top in TOP and not (top == "tuniser" and _tuniser_allowed(imp)):
                offenders.append(f"{imp}  ({app} must not import {top})")
        if any(imp.target == "tuniser" for imp in _imports(rel)):
            offenders += [f"{use}  (only tuniser.__version__)" for use in _tuniser_attribute_uses(rel)]
    _report(f"{app}: imports that point up the stack", offenders)


def _pure_files(area: str) -> list[str]:
    path = REPO / area
    return [_rel(p) for p in sorted(path.rglob("*.py"))] if path.is_dir() else [area]


@pytest.mark.parametrize("area", PURE)
def test_numerical_code_is_django_free(area):
    files = _pure_files(area)
    assert files, area
    if area == PURE[0]:
        files += list(PURE_INIT)
    offenders = []
    for rel in files:
        for imp in _imports(rel):
            top = imp.target.split(".")[0]
            if top in FRAMEWORK:
                offenders.append(f"{imp}  (Django-free code)")
            elif (top in RANK or top in TOP) and not imp.target.startswith(PURE_MODULES):
                offenders.append(f"{imp}  (only {', '.join(PURE_MODULES)} from the project)")
    _report(f"{area}: imports that bring Django in", offenders)


def test_core_imports_no_new_django():
    """`core` is the bottom layer: its Django/DRF imports are the listed ones and no more."""
    offenders = []
    for path in _app_files("core"):
        rel = _rel(path)
        if "tests" in Path(rel).parts:
            continue
        allowed = CORE_FRAMEWORK_IMPORTS.get(rel, set())
        for imp in _imports(rel):
            if imp.module.split(".")[0] in FRAMEWORK and imp.module not in allowed:
                offenders.append(f"{imp}  (not in CORE_FRAMEWORK_IMPORTS)")
    _report("core: Django imports not listed", offenders)


def _view_files(app: str) -> list[str]:
    return [
        _rel(p)
        for p in _app_files(app)
        if p.name in VIEW_FILES
        or any(part in ("apis", "views") for part in p.relative_to(REPO / app).parts[:-1])
    ]


APPS_WITH_VIEWS = [app for app in APPS if _view_files(app)]


@pytest.mark.parametrize("app", APPS_WITH_VIEWS)
def test_views_do_not_write_to_the_orm(app):
    offenders = []
    for rel in _view_files(app):
        source = (REPO / rel).read_text(encoding="utf-8")
        for node in ast.walk(_tree(rel)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in WRITE_METHODS
            ):
                call = ast.get_source_segment(source, node.func) or f"….{node.func.attr}"
                offenders.append((rel, node.lineno, f"{rel}:{node.lineno}: {call}(...)"))
    _report(f"{app}: ORM writes in views (move them to services)", [o for *_, o in sorted(offenders)])
