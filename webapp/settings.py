"""StreetShop's Django settings: everything a deployment changes comes from the environment.

Embedded defaults (no server to install): SQLite, media on local disk, a
filesystem Celery broker, a Milvus Lite server on 127.0.0.1 started by
`make run`. The scaled path sets DATABASE_URL (PostgreSQL), REDIS_URL (broker
and result backend) and MILVUS_URI (Milvus standalone or distributed).
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("STREETSHOP_VAR_DIR", BASE_DIR / "var")).resolve()


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _secret_key() -> str:
    """SECRET_KEY from the environment; locally a generated key kept in var/ (never committed)."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "webapp.catalog",
    "webapp.search",
    "webapp.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'streetshop.sqlite3'}"), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The worker and the web server share the file: WAL lets readers and the writer overlap, commits
    # skip a sync per transaction, writers wait for the lock instead of failing, and take it up front.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=30, transaction_mode="IMMEDIATE", init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise expects it even before collectstatic
STATICFILES_DIRS = [BASE_DIR / "webapp" / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # `make run` serves static files without collectstatic

# Uploads: the loader re-checks the bytes; these bound what Django buffers.
STREETSHOP_MAX_UPLOAD_BYTES = int(os.environ.get("STREETSHOP_MAX_UPLOAD_BYTES", 20 * 1024 * 1024))
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --------------------------------------------------------------------------- API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["webapp.api.permissions.StaffWritesOnly"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 24,
    "DEFAULT_THROTTLE_RATES": {"uploads": os.environ.get("STREETSHOP_UPLOAD_RATE", "30/minute")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "StreetShop API",
    "DESCRIPTION": "Visual search for fashion: upload a street photo, get the catalog's matching products.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --------------------------------------------------------------------------- Celery
REDIS_URL = os.environ.get("REDIS_URL")
BROKER_DIR = VAR_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # An unacknowledged message (its worker killed) comes back after this many seconds. It must exceed
        # the longest task plus its retry countdown, or a slow task that is still running is delivered a
        # second time (a whole-catalog re-index takes long). A killed worker's searches and images do not
        # wait for it: their database leases run out within a minute and workers.recovery queues them again.
        "visibility_timeout": int(os.environ.get("STREETSHOP_BROKER_VISIBILITY_S", 2 * 3600)),
        "global_keyprefix": os.environ.get("STREETSHOP_REDIS_PREFIX", ""),
        # Publishing retries the connection quickly and gives up after CELERY_BROKER_CONNECTION_TIMEOUT
        # (kombu's default 2 s steps made a 3 s timeout take 6 s before the upload could answer 503).
        "interval_start": 0,
        "interval_step": 0.5,
        "interval_max": 1,
    }
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"global_keyprefix": os.environ.get("STREETSHOP_REDIS_PREFIX", "")}
else:
    # A broker that needs no server: messages are files in var/broker, shared by web and worker
    # (kombu's filesystem transport with atomic writes: workers/broker.py).
    CELERY_BROKER_URL = "streetshop-fs://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        # The transport polls the folder; the default second would dominate a search's latency.
        "polling_interval": float(os.environ.get("STREETSHOP_BROKER_POLL_S", 0.005)),
    }
    CELERY_RESULT_BACKEND = None  # results and errors live in the database
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Publishing must not hang a shopper's upload when the broker is down: fail fast, answer 503.
CELERY_BROKER_CONNECTION_TIMEOUT = float(os.environ.get("STREETSHOP_BROKER_TIMEOUT_S", 3))

# Upload throttling counts per client across all web processes when Redis is there.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                "KEY_PREFIX": os.environ.get("STREETSHOP_REDIS_PREFIX", "") + "cache"}
    if REDIS_URL else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

# --------------------------------------------------------------------------- engine and vectors
STREETSHOP_DEVICE = os.environ.get("STREETSHOP_DEVICE", "cpu")
# Shoppers' photos show people: the pose detector. Catalog images are shop photos: the whole image.
STREETSHOP_QUERY_DETECTOR = os.environ.get("STREETSHOP_DETECTOR", "pose")
STREETSHOP_CATALOG_DETECTOR = os.environ.get("STREETSHOP_CATALOG_DETECTOR", "full_image")
STREETSHOP_ALIGNER = os.environ.get("STREETSHOP_ALIGNER") or None
STREETSHOP_EXTRACTOR = os.environ.get("STREETSHOP_EXTRACTOR") or None
STREETSHOP_INDEX_BATCH = int(os.environ.get("STREETSHOP_INDEX_BATCH", 32))
# Indexing batches queued at once (each queues its successor): a search waits behind at most this many.
STREETSHOP_INDEX_CHAINS = int(os.environ.get("STREETSHOP_INDEX_CHAINS", 1))

MILVUS_URI = os.environ.get("MILVUS_URI", "http://127.0.0.1:19530")
MILVUS_TOKEN = os.environ.get("MILVUS_TOKEN", "")
MILVUS_DATA_DIR = VAR_DIR / "milvus"
MILVUS_HNSW = {
    "M": int(os.environ.get("MILVUS_HNSW_M", 16)),
    "ef_construction": int(os.environ.get("MILVUS_HNSW_EF_CONSTRUCTION", 200)),
    "ef": int(os.environ.get("MILVUS_HNSW_EF", 128)),
}
# A web request that deletes or edits catalog products tries Milvus once, this long, then leaves the vectors to a worker.
MILVUS_QUICK_TIMEOUT_S = float(os.environ.get("MILVUS_QUICK_TIMEOUT_S", 2))

STREETSHOP_RESULTS_PER_GARMENT = int(os.environ.get("STREETSHOP_RESULTS_PER_GARMENT", 12))
STREETSHOP_SEARCH_RETENTION_HOURS = int(os.environ.get("STREETSHOP_SEARCH_RETENTION_HOURS", 24 * 7))

# --------------------------------------------------------------------------- security
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE = env_bool("HTTPS", False)
SECURE_SSL_REDIRECT = env_bool("HTTPS", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("HTTPS", False) else None
SECURE_HSTS_SECONDS = 31536000 if env_bool("HTTPS", False) else 0
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# Server folders the admin may import images from (comma-separated); nothing else is readable through it.
STREETSHOP_IMPORT_ROOTS = [Path(p) for p in env_list("STREETSHOP_IMPORT_ROOTS", str(VAR_DIR / "imports"))]
# Model quality reports shown in the admin: python -m engine report aligner|extractor DATA --out <this>/<name>
STREETSHOP_REPORTS_DIR = Path(os.environ.get("STREETSHOP_REPORTS_DIR", VAR_DIR / "reports"))
