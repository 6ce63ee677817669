"""Django settings for durableapp, read from the environment (docs/architecture.md,
"Settings").

With no environment at all this is the one-machine default: DEBUG on, SQLite in
WAL mode, the embedded (in-process) Dramatiq worker and the in-memory channel
layer. Production sets DJANGO_DEBUG=0, DJANGO_SECRET_KEY, DATABASE_URL,
DURABLE_BROKER_URL and CHANNEL_LAYER_URL.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str) -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    value = env(name, "1" if default else "0").lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean; use 1 or 0.")


def env_number(name: str, default: int | float, kind: type = int) -> int | float:
    value = env(name, str(default))
    try:
        return kind(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a valid {kind.__name__}.") from None


# --- Core -----------------------------------------------------------------------------------

DEBUG = env_bool("DJANGO_DEBUG", True)


def _dev_secret_key() -> str:
    """A random key kept in the git-ignored BASE_DIR/.secret_key, made on first use.

    Stable across restarts (sessions survive), different on every machine.
    """
    path = BASE_DIR / ".secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    key = get_random_secret_key()
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


SECRET_KEY = env("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off. Generate one with: "
            "python -c 'from django.core.management.utils import get_random_secret_key; "
            "print(get_random_secret_key())'"
        )
    SECRET_KEY = _dev_secret_key()

ALLOWED_HOSTS = [
    host.strip()
    for host in env("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",")
    if host.strip()
]

INSTALLED_APPS = [
    "daphne",  # first: its runserver replaces Django's with the ASGI one
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "channels",
    "django_dramatiq",
    "workflows",
    "workflows.samples",  # the sample workflows and their fake services (label "samples")
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "durableapp.urls"
WSGI_APPLICATION = "durableapp.wsgi.application"
ASGI_APPLICATION = "durableapp.asgi.application"

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

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Database -------------------------------------------------------------------------------

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        # Workers keep their connection between messages: opening one per message costs
        # more than the whole durable step. Health checks drop broken ones
        # (docs/architecture.md, "Processes, databases and brokers").
        conn_max_age=env_number("DATABASE_CONN_MAX_AGE", 600),
        conn_health_checks=True,
    )
}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web and worker threads write concurrently (docs/architecture.md, "Processes, databases
    # and brokers"): WAL lets readers run beside the writer, IMMEDIATE takes the write lock
    # at BEGIN so no transaction fails half-way when it upgrades, and the busy timeout makes
    # writers queue instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;"
        ),
    }
    # Tests use a file, not Django's shared-cache in-memory database: that one ignores WAL
    # and the busy timeout, so worker threads in integration tests would hit table locks.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "test-db.sqlite3")}

# --- REST API (docs/architecture.md, "REST API" and "Who may do what") ----------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "durableapp API",
    "DESCRIPTION": "Start, observe and operate durable workflow instances.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and docs are behind login like every other endpoint (docs/architecture.md,
    # "Who may do what").
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI and ReDoc are served from our own static files, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several components have a "status" enum: name each (StatusEnum stays the instances').
    "ENUM_NAME_OVERRIDES": {
        "StatusEnum": "workflows.statuses.InstanceStatus",
        "ApprovalStatusEnum": "workflows.statuses.ApprovalStatus",
        "CompensationStatusEnum": "workflows.statuses.CompensationStatus",
        "DecisionStatusEnum": ["approved", "rejected"],
    },
}

# --- Durable runtime ------------------------------------------------------------------------

DURABLE_BROKER_URL = env("DURABLE_BROKER_URL", "embedded")
# Every other DURABLE_* variable of the environment becomes the setting of that name, as
# text: workflows/conf.py holds each one's default, parses it, and its system check names
# a bad value (`manage.py check`; every management command refuses to run with one).
globals().update(
    {
        name: value.strip()
        for name, value in os.environ.items()
        if name.startswith("DURABLE_")
        and name not in {"DURABLE_BROKER_URL", "DURABLE_LOG_FORMAT", "DURABLE_LOG_LEVEL"}
    }
)


def dramatiq_broker(url: str) -> dict:
    """The django_dramatiq DRAMATIQ_BROKER setting for a DURABLE_BROKER_URL."""
    if url == "embedded":
        broker, options = "dramatiq.brokers.stub.StubBroker", {}
    elif url.startswith(("amqp://", "amqps://")):
        broker, options = "dramatiq.brokers.rabbitmq.RabbitmqBroker", {"url": url}
    elif url.startswith(("redis://", "rediss://")):
        broker, options = "dramatiq.brokers.redis.RedisBroker", {"url": url}
    else:
        raise ImproperlyConfigured(
            f"DURABLE_BROKER_URL={url!r} is not understood. Use 'embedded' (in-process "
            "worker), 'amqp://user:password@host:5672/' (RabbitMQ) or "
            "'redis://host:6379/0' (Redis)."
        )
    return {
        "BROKER": broker,
        "OPTIONS": options,
        # Dramatiq's Retries middleware is left out on purpose: the engine retries,
        # durably and by error class (docs/architecture.md, "Processes, databases and brokers").
        "MIDDLEWARE": [
            "dramatiq.middleware.AgeLimit",
            "dramatiq.middleware.TimeLimit",
            "dramatiq.middleware.Callbacks",
            "dramatiq.middleware.Pipelines",
            "django_dramatiq.middleware.DbConnectionsMiddleware",
        ],
    }


DRAMATIQ_BROKER = dramatiq_broker(DURABLE_BROKER_URL)
# No results backend: results travel through the database, never the broker.
DRAMATIQ_RESULT_BACKEND: dict = {}
# `manage.py rundramatiq` imports <app>.<module> for each installed app that has one.
DRAMATIQ_AUTODISCOVER_MODULES = ["runtime.actors"]

# --- Channels -------------------------------------------------------------------------------

CHANNEL_LAYER_URL = env("CHANNEL_LAYER_URL", "")
if CHANNEL_LAYER_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [CHANNEL_LAYER_URL]},
        }
    }
else:
    # Only the committing process can push; pages fall back to HTMX polling
    # (docs/architecture.md, "Live updates").
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Logging --------------------------------------------------------------------------------

# The root logger is left alone: `rundramatiq` workers keep the logging that the dramatiq
# CLI configured before Django started.
# Runtime log lines carry instance_id, execution_id and business_key (workflows/logging.py):
# DURABLE_LOG_FORMAT=text appends them as key=value, json writes one JSON object a line.
DURABLE_LOG_FORMAT = env("DURABLE_LOG_FORMAT", "text").lower()
if DURABLE_LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(f"DURABLE_LOG_FORMAT={DURABLE_LOG_FORMAT!r}: use text or json.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"durable_context": {"()": "workflows.logging.ContextFilter"}},
    "formatters": {
        "plain": {"format": "{asctime} {levelname:<7} {name}: {message}", "style": "{"},
        "text": {
            "()": "workflows.logging.StructuredFormatter",
            "format": "{asctime} {levelname:<7} {name}: {message}",
            "style": "{",
        },
        "json": {"()": "workflows.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": DURABLE_LOG_FORMAT,
            "filters": ["durable_context"],
        },
    },
    "loggers": {
        # Replaces Django's default handlers so nothing is printed twice.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "workflows": {
            "handlers": ["console"],
            "level": env("DURABLE_LOG_LEVEL", "INFO").upper(),
            "propagate": False,
        },
    },
}
