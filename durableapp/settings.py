"""Django settings for durableapp, read from the environment (docs/architecture.md,
"Settings").

With no environment at all this is production-safe: DEBUG off, HTTPS-only cookies,
HTTPS redirect, HSTS, login lockout and API throttling, and it refuses to start without
DJANGO_SECRET_KEY (README, "Running in production"). Services default to one machine:
SQLite in WAL mode, the embedded (in-process) Dramatiq worker and the in-memory channel
layer; production also sets DATABASE_URL, DURABLE_BROKER_URL and CHANNEL_LAYER_URL.

`make run` sets DJANGO_DEBUG=1 for the one-machine demo: a generated secret key, plain
HTTP. Test runs (pytest) get the same development defaults, see TESTING below.
"""

import os
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
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


def env_number(
    name: str, default: int | float, kind: type = int, minimum: int | float | None = None
) -> int | float:
    value = env(name, str(default))
    try:
        number = kind(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a valid {kind.__name__}.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={value!r} is too small: use {minimum} or more.")
    return number


# --- Core -----------------------------------------------------------------------------------

# Off unless asked for: Django's debug pages show settings and code to whoever gets one.
DEBUG = env_bool("DJANGO_DEBUG", False)
# A test run: pytest sets PYTEST_VERSION for its whole session, and the servers and workers
# the tests start (tests/support/workers.py, tests/ui/server.py) inherit it. Like DEBUG it
# allows the generated secret key and makes the production defaults below (HTTPS
# redirect, secure cookies, HSTS, the proxy header) off, since tests speak plain HTTP;
# it also leaves the API unthrottled. Every DJANGO_* variable still wins.
TESTING = "PYTEST_VERSION" in os.environ
# Neither the demo (DJANGO_DEBUG=1) nor a test run: the safe defaults apply.
PRODUCTION = not DEBUG and not TESTING


def _dev_secret_key() -> str:
    """A random key kept in the git-ignored BASE_DIR/.secret_key, made on first use.

    Stable across restarts (sessions survive), different on every machine. Published
    whole (written aside, then linked in place), so a process starting meanwhile never
    reads half a key.
    """
    path = BASE_DIR / ".secret_key"
    if not path.exists():
        draft = path.with_name(f".secret_key.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(get_random_secret_key() + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process was first: use its key
        finally:
            draft.unlink()
    return path.read_text().strip()


SECRET_KEY = env("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off. Generate one with: "
            "python -c 'from django.core.management.utils import get_random_secret_key; "
            "print(get_random_secret_key())' (on a development machine, DJANGO_DEBUG=1 "
            "uses a generated one instead; `make run` does that)."
        )
    SECRET_KEY = _dev_secret_key()

ALLOWED_HOSTS = [
    host.strip()
    for host in env("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",")
    if host.strip()
]
# Reverse proxies in front that append the client's address to X-Forwarded-For: with N,
# the login lockout and the API throttle count the address the outermost one saw; with 0
# (no proxy), REMOTE_ADDR, since a client can write X-Forwarded-For itself.
PROXY_COUNT = env_number("DJANGO_PROXY_COUNT", 0, minimum=0)

# No "daphne" app: `durable serve` runs daphne itself (websockets and the embedded
# worker); as an app it would only swap runserver for its own, and every process (each
# worker) would import Twisted at start-up (0.2 s of CPU).
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "channels",
    "django_dramatiq",
    "axes",  # login lockout (see "Security" below)
    "csp",
    "workflows",
    "workflows.samples",  # the sample workflows and their fake services (label "samples")
    "workflows.security",  # hashed, expiring API tokens (label "security")
    "workflows.schedules",  # durable cron and interval starts (label "schedules")
    "workflows.entities",  # durable entities: state, queued operations, locks (label "entities")
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # before any middleware that may answer by itself
    "workflows.api.limits.BodyLimitMiddleware",  # /api/ bodies over the limit: JSON 413
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # A view that lost the database answers 503 with Retry-After, not a 500 (after htmx:
    # an HTMX request gets the message in #flash).
    "workflows.ui.unavailable.DatabaseUnavailableMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
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


def database(url: str, conn_max_age: int, pgbouncer: bool) -> dict:
    """DATABASES["default"] for a DATABASE_URL; ``pgbouncer``: PostgreSQL is reached through
    PgBouncer in transaction pooling (DATABASE_PGBOUNCER=1).

    Behind such a pooler every transaction (every statement, in autocommit) may run on
    another server connection, so nothing may live in a server session beyond one
    transaction (docs/architecture.md, "Processes, databases and brokers"): no prepared
    statements (Django's default, ``prepare_threshold`` None, kept and enforced), no
    server-side cursors (``QuerySet.iterator()`` fetches everything at once instead of
    a WITH HOLD cursor it reads from later), no ``SET ROLE``.
    """
    config = dj_database_url.parse(
        url,
        # Workers keep their connection between messages: opening one per message costs
        # more than the whole durable step. Health checks drop broken ones
        # (docs/architecture.md, "Processes, databases and brokers").
        conn_max_age=conn_max_age,
        conn_health_checks=True,
    )
    options = config.setdefault("OPTIONS", {})
    if "pgbouncer" in options:
        raise ImproperlyConfigured(
            "DATABASE_URL: ?pgbouncer=... is not a PostgreSQL connection option; remove it "
            "and set DATABASE_PGBOUNCER=1 instead."
        )
    if config["ENGINE"] == "django.db.backends.sqlite3":
        if pgbouncer:
            raise ImproperlyConfigured(
                "DATABASE_PGBOUNCER=1 needs a PostgreSQL DATABASE_URL (postgres://user@"
                "pgbouncer-host:6432/name); DATABASE_URL is SQLite. Unset DATABASE_PGBOUNCER."
            )
        # Web and worker threads write concurrently (docs/architecture.md, "Processes,
        # databases and brokers"): WAL lets readers run beside the writer, IMMEDIATE takes
        # the write lock at BEGIN so no transaction fails half-way when it upgrades, and the
        # busy timeout makes writers queue instead of failing with "database is locked".
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;"
            ),
        }
        # Tests use a file, not Django's shared-cache in-memory database: that one ignores
        # WAL and the busy timeout, so worker threads in integration tests would hit table
        # locks.
        config["TEST"] = {"NAME": str(BASE_DIR / "test-db.sqlite3")}
    elif pgbouncer:
        for option, why in (
            ("prepare_threshold", "prepared statements live in one server session"),
            ("assume_role", "SET ROLE lives in one server session"),
        ):
            if options.get(option) is not None:
                raise ImproperlyConfigured(
                    f"DATABASE_URL: ?{option}= cannot be used with DATABASE_PGBOUNCER=1 "
                    f"({why}; PgBouncer in transaction pooling hands each transaction any "
                    "server connection). Remove it, or unset DATABASE_PGBOUNCER if "
                    "PostgreSQL is reached directly or in session pooling."
                )
        options["prepare_threshold"] = None
        config["DISABLE_SERVER_SIDE_CURSORS"] = True
    return config


DATABASES = {
    "default": database(
        env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_number("DATABASE_CONN_MAX_AGE", 600),
        pgbouncer=env_bool("DATABASE_PGBOUNCER", False),
    )
}

# --- Security (README, "Running in production") --------------------------------------------

# HTTPS: in production every plain-HTTP request is redirected (except the probes'
# /healthz and /metrics), cookies travel over HTTPS only, and browsers are told to
# use HTTPS for a year (HSTS). A TLS-terminating proxy in front says "this was HTTPS"
# with X-Forwarded-Proto; only a proxy that sets (or strips) that header may be trusted.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", PRODUCTION)
# Scripts never read either cookie (the CSRF token travels in the page: hx-headers).
SESSION_COOKIE_HTTPONLY = CSRF_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env_number(
    "DJANGO_SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0, minimum=0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)


def proxy_ssl_header(name: str, value: str) -> tuple[str, str] | None:
    """SECURE_PROXY_SSL_HEADER for a header name (``X-Forwarded-Proto``); empty: none."""
    if not value:
        return None
    if not re.fullmatch(r"[A-Za-z0-9-]+", value):
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a header name: use e.g. X-Forwarded-Proto, or empty "
            "when no proxy sits in front."
        )
    return ("HTTP_" + value.upper().replace("-", "_"), "https")


SECURE_PROXY_SSL_HEADER = proxy_ssl_header(
    "DJANGO_SECURE_PROXY_SSL_HEADER",
    env("DJANGO_SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto" if PRODUCTION else ""),
)
CSRF_TRUSTED_ORIGINS = [
    origin.strip() for origin in env("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if origin.strip()
]
for _origin in CSRF_TRUSTED_ORIGINS:
    if not re.match(r"https?://", _origin):
        raise ImproperlyConfigured(
            f"DJANGO_CSRF_TRUSTED_ORIGINS: {_origin!r} needs its scheme, e.g. https://{_origin}"
        )

# Content-Security-Policy on every response (django-csp): scripts and everything else come
# from this site only (htmx, live.js, the admin's and Swagger UI's files are all static
# files), no plugins, no framing, forms post here only. Inline styles stay allowed: htmx
# adds its indicator <style>, progress bars set their width, Swagger UI has a <style>;
# images are limited to this site and data: URLs, so a style cannot send data away.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],  # includes this site's websockets (/ws/instances/)
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}


def lockout_parameters(name: str, value: str) -> list[str | list[str]]:
    """AXES_LOCKOUT_PARAMETERS from ``username+ip_address,ip_address``: each comma-separated
    entry is counted on its own, ``+`` joins what must match together."""
    known = {"username", "ip_address", "user_agent"}
    entries: list[str | list[str]] = []
    for entry in value.split(","):
        parts = [part.strip() for part in entry.split("+") if part.strip()]
        if not parts or not set(parts) <= known:
            raise ImproperlyConfigured(
                f"{name}={value!r}: use {', '.join(sorted(known))}, joined by + (together) "
                "or , (each alone), e.g. username+ip_address"
            )
        entries.append(parts if len(parts) > 1 else parts[0])
    return entries


# Login lockout (django-axes), for the UI's and the admin's login alike: after
# DJANGO_LOGIN_FAILURE_LIMIT wrong passwords for one username from one address, that
# pair is refused (429) for DJANGO_LOGIN_COOLOFF_MINUTES, restarted by each further
# try; a success clears the count. Unlock early in the admin (Axes: access attempts)
# or with `manage.py axes_reset_username <name>`.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_number("DJANGO_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(
    minutes=env_number("DJANGO_LOGIN_COOLOFF_MINUTES", 15, kind=float, minimum=0.01)
)
AXES_LOCKOUT_PARAMETERS = lockout_parameters(
    "DJANGO_LOGIN_LOCKOUT_BY", env("DJANGO_LOGIN_LOCKOUT_BY", "username+ip_address")
)
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # failures are kept; successful logins are not logged
AXES_CLIENT_IP_CALLABLE = "workflows.security.throttling.client_address"
AXES_LOCKOUT_CALLABLE = "workflows.security.lockout.locked_out"


def throttle_rate(name: str, value: str) -> str:
    """A DRF rate (``20/second``, ``1000/hour``); ``off``, ``0`` or empty: none (``""``)."""
    if value.lower() in {"", "off", "0"}:
        return ""
    match = re.fullmatch(r"(\d+)/(s|sec|second|m|min|minute|h|hour|d|day)", value.lower())
    if not match or int(match[1]) < 1:
        raise ImproperlyConfigured(
            f"{name}={value!r}: use requests per second, minute, hour or day, e.g. "
            "20/second, or off."
        )
    return value.lower()


# API requests a user may make (workflows/security/throttling.py); test runs are not
# throttled unless the variable is set.
API_THROTTLE_RATE = throttle_rate(
    "DJANGO_API_THROTTLE_RATE", env("DJANGO_API_THROTTLE_RATE", "off" if TESTING else "20/second")
)
# How long a new API token works (`durable token create --days` overrides it).
API_TOKEN_DAYS = env_number("DJANGO_API_TOKEN_DAYS", 90, minimum=1)

# The cache holds the API throttle's counts: per process by default; a shared Redis makes
# the limit hold across processes.
CACHE_URL = env("DJANGO_CACHE_URL", "")
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    }
elif CACHE_URL:
    raise ImproperlyConfigured(
        f"DJANGO_CACHE_URL={CACHE_URL!r}: use redis://host:6379/1, or leave it empty for a "
        "cache in each process."
    )

# --- REST API (docs/architecture.md, "REST API" and "Who may do what") ----------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # `Authorization: Token <key>`, keys stored hashed and expiring (workflows/security).
        "workflows.security.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # At most API_THROTTLE_RATE requests per user; 429 with Retry-After beyond.
    "DEFAULT_THROTTLE_CLASSES": ["workflows.security.throttling.ApiRateThrottle"],
    # X-Forwarded-For is believed only from the DJANGO_PROXY_COUNT proxies in front.
    "NUM_PROXIES": PROXY_COUNT,
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
