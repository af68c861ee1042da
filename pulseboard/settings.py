"""PulseBoard settings. Every value comes from the environment, read here and nowhere else.

Two deployments share this file:

* ``PULSEBOARD_DEPLOYMENT=embedded`` (the default, ``make run``): SQLite and chdb under
  ``var/``, Redis at ``REDIS_URL`` or a private one, a secret generated under ``var/``.
* ``PULSEBOARD_DEPLOYMENT=server`` (``docker compose up``): Postgres, a ClickHouse server
  and Redis are required, and so is ``SECRET_KEY``; nothing falls back to a default.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
import dj_email_url
from celery.schedules import crontab
from corsheaders.defaults import default_headers as cors_default_headers
from django.core.exceptions import ImproperlyConfigured

from pulseboard import embedded

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool = False) -> bool:
    value = env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = env(name)
    try:
        return default if value is None else int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in (env(name, default) or "").split(",") if item.strip()]


def require(name: str) -> str:
    value = env(name)
    if value is None:
        raise ImproperlyConfigured(f"{name} must be set when PULSEBOARD_DEPLOYMENT=server")
    return value


DEPLOYMENT = env("PULSEBOARD_DEPLOYMENT", "embedded")
if DEPLOYMENT not in {"embedded", "server"}:
    raise ImproperlyConfigured(f"PULSEBOARD_DEPLOYMENT must be 'embedded' or 'server', got {DEPLOYMENT!r}")
EMBEDDED = DEPLOYMENT == "embedded"

VAR_DIR = Path(env("PULSEBOARD_VAR_DIR", str(BASE_DIR / "var"))).resolve()

# --- Core -----------------------------------------------------------------------------
if EMBEDDED:
    SECRET_KEY = env("SECRET_KEY") or embedded.local_secret(VAR_DIR, "secret_key")
else:
    SECRET_KEY = require("SECRET_KEY")

DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]" if EMBEDDED else "")
if not EMBEDDED and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when PULSEBOARD_DEPLOYMENT=server")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "channels",
    "axes",
    "pulseboard",
    "apps.projects",
    "apps.ingest",
    "apps.query",
    "apps.persons",
    "apps.analytics",
    "apps.funnels",
    "apps.web",  # sessions, paths and the web overview: beside analytics and funnels
    "apps.dashboards",  # saved insights and dashboards: above the insight apps
    "apps.digests",  # daily and weekly email digests: above the insight apps, beside dashboards
    "apps.alerts",  # alerts on trend figures: above the insight apps, beside dashboards
    "apps.demo",  # above every other app: nothing imports it
]

MIDDLEWARE = [
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "pulseboard.middleware.DomainErrorMiddleware",
    # A project's pages print datetimes in the project's timezone.
    "apps.projects.middleware.ProjectTimezoneMiddleware",
    # Last: turns a login refused by the lockout into the "too many failed logins" page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "pulseboard.urls"
WSGI_APPLICATION = "pulseboard.wsgi.application"
ASGI_APPLICATION = "pulseboard.asgi.application"

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
                "apps.projects.navigation.navigation",
            ],
        },
    },
]

# --- Configuration database -------------------------------------------------------------
DATABASE_URL = env("DATABASE_URL") if not EMBEDDED else env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'pulseboard.sqlite3'}")
if DATABASE_URL is None:
    raise ImproperlyConfigured("DATABASE_URL must be set when PULSEBOARD_DEPLOYMENT=server")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # Connections are kept (per web thread) like any other database's: opening a SQLite
    # connection costs about as much as the rest of a small request.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# The lockout backend goes first: it refuses a locked-out login before any password is checked.
AUTHENTICATION_BACKENDS = ["apps.projects.authentication.LoginLockoutBackend", "apps.projects.authentication.UserBackend"]
SESSION_ENGINE = "apps.projects.sessions"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

# Login lockout (django-axes), on the login page and the admin's: after LOGIN_FAILURE_LIMIT
# failed logins of one username (from any address), or from one client address (whatever
# the usernames), logins of that username or address are refused for LOGIN_COOLOFF_MINUTES
# after the last try. Client addresses follow INGEST_TRUST_X_FORWARDED_FOR.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_COOLOFF_MINUTES = env_int("LOGIN_COOLOFF_MINUTES", 15)
if LOGIN_FAILURE_LIMIT < 1 or LOGIN_COOLOFF_MINUTES < 1:
    raise ImproperlyConfigured("LOGIN_FAILURE_LIMIT and LOGIN_COOLOFF_MINUTES must be at least 1")
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "pulseboard.http.client_ip"
AXES_LOCKOUT_CALLABLE = "apps.projects.views.login_locked_out"
# No row per successful login; failed ones are kept until their cool-off ends, without the
# password or the CSRF token of the form.
AXES_DISABLE_ACCESS_LOG = True
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "csrfmiddlewaretoken"]

# --- Accounts and email -------------------------------------------------------------------
# Sign-up: "invite" (the default) lets people in only through a project owner's email
# invite; "open" lets anyone create an account. An install with no user at all is open
# either way, and its first account becomes the administrator.
PULSEBOARD_SIGNUP = (env("PULSEBOARD_SIGNUP", "invite") or "").strip().lower()
if PULSEBOARD_SIGNUP not in {"open", "invite"}:
    raise ImproperlyConfigured(f"PULSEBOARD_SIGNUP must be 'open' or 'invite', got {PULSEBOARD_SIGNUP!r}")
# Sign-ups, password-reset requests and invites sent, per client address (invites: per
# user) and hour; reset emails to one address are capped at a third of it.
ACCOUNT_RATE_PER_HOUR = env_int("ACCOUNT_RATE_PER_HOUR", 10)
if ACCOUNT_RATE_PER_HOUR < 1:
    raise ImproperlyConfigured("ACCOUNT_RATE_PER_HOUR must be at least 1")
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_HOURS", 24) * 3600

# Email (invites, password resets): SMTP when EMAIL_HOST (or EMAIL_URL, parsed by
# dj-email-url, e.g. submission://user:password@mail.example.com:587) is set; otherwise the
# console backend prints each message to the server's log. EMAIL_BACKEND overrides both,
# and the single EMAIL_* variables override the URL's parts.
_email = dj_email_url.parse(env("EMAIL_URL")) if env("EMAIL_URL") else {}
if _email and "EMAIL_BACKEND" not in _email:  # a scheme dj-email-url does not know
    raise ImproperlyConfigured("EMAIL_URL must start with smtp://, submission:// (STARTTLS) or smtp://…?ssl=True (TLS)")
EMAIL_HOST = env("EMAIL_HOST", _email.get("EMAIL_HOST") or None) or ""
EMAIL_HOST_USER = env("EMAIL_HOST_USER", _email.get("EMAIL_HOST_USER") or "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", _email.get("EMAIL_HOST_PASSWORD") or "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", bool(_email.get("EMAIL_USE_TLS")))
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", bool(_email.get("EMAIL_USE_SSL")))
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS (STARTTLS) and EMAIL_USE_SSL exclude each other: set one")
EMAIL_PORT = env_int("EMAIL_PORT", _email.get("EMAIL_PORT") or (465 if EMAIL_USE_SSL else 587 if EMAIL_USE_TLS else 25))
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)  # seconds; a request never waits on a dead mail server for long
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    _email.get("EMAIL_BACKEND")
    or ("django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"),
)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "PulseBoard <pulseboard@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Redis: stream, broker, cache, channel layer ---------------------------------------
REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0" if EMBEDDED else None)
if REDIS_URL is None:
    raise ImproperlyConfigured("REDIS_URL must be set when PULSEBOARD_DEPLOYMENT=server")
if EMBEDDED and not embedded.redis_answers(REDIS_URL):
    REDIS_URL = embedded.private_redis_url(VAR_DIR)
# Every key PulseBoard writes starts with this, so one Redis can host several installs (and tests).
REDIS_KEY_PREFIX = env("REDIS_KEY_PREFIX", "pulseboard")

CELERY_BROKER_URL = env("CELERY_BROKER_URL", embedded.celery_broker_url(REDIS_URL))
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_BACKEND = None
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": f"{REDIS_KEY_PREFIX}:celery:"}
CELERY_TASK_DEFAULT_QUEUE = "pulseboard"
CELERY_BEAT_SCHEDULE = {
    "flush-events": {"task": "ingest.flush_events", "schedule": float(env("FLUSH_INTERVAL_SECONDS", "1.0"))},
    "prune-ingest-requests": {"task": "ingest.prune_ingest_requests", "schedule": 3600.0},
    # Rollups against events, every night (UTC) at RECONCILE_HOUR.
    "reconcile-rollups": {
        "task": "ingest.reconcile_rollups",
        "schedule": crontab(minute=17, hour=env_int("RECONCILE_HOUR", 3)),
    },
    # Each project's data retention (Project.retention_days); a count per project when nothing is due.
    "apply-retention": {"task": "ingest.apply_retention", "schedule": crontab(minute=41)},
    # The IP hash's day salts older than 48 h are deleted (also on the first hash of a day).
    "prune-ip-salts": {"task": "ingest.prune_ip_salts", "schedule": crontab(minute=7)},
    # Digests: every hour, the daily and weekly digests that are due are sent (once per member and period).
    "send-digests": {"task": "digests.send_due", "schedule": crontab(minute=7)},
    # Alerts: every minute, the alerts whose every_minutes have passed are judged.
    "evaluate-alerts": {"task": "alerts.evaluate_due", "schedule": 60.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# The live feed's channel layer, in both deployments. In the embedded one the flush runs in
# the worker thread and the sockets in uvicorn's event loop: an in-memory layer (asyncio
# queues of one loop) cannot be fed from another thread, Redis can. A unix-socket REDIS_URL
# (the private redis-server) works as is. A listener waits on Redis in blocking reads of 5 s
# (channels_redis' brpop_timeout): the read timeout must be longer, or redis-py's default
# (also 5 s) ends an idle socket or stream after about 5 s.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15}], "prefix": f"{REDIS_KEY_PREFIX}:channels:"},
    }
}

# --- ClickHouse -------------------------------------------------------------------------
# A ClickHouse server when CLICKHOUSE_URL is set (clickhouse://user:pass@host:9000/db),
# otherwise chdb, the in-process engine, with its data under CHDB_PATH.
CLICKHOUSE_URL = env("CLICKHOUSE_URL")
if not EMBEDDED and CLICKHOUSE_URL is None:
    raise ImproperlyConfigured("CLICKHOUSE_URL must be set when PULSEBOARD_DEPLOYMENT=server")
CHDB_PATH = env("CHDB_PATH", str(VAR_DIR / "chdb"))
# The database named in CLICKHOUSE_URL wins; CLICKHOUSE_DATABASE names it for chdb.
CLICKHOUSE_DATABASE = env("CLICKHOUSE_DATABASE", "pulseboard")
if CLICKHOUSE_URL:
    from pulseboard.clickhouse.backends import parse_clickhouse_url

    try:
        _clickhouse_db = parse_clickhouse_url(CLICKHOUSE_URL).database
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from exc
    if _clickhouse_db != "default":
        CLICKHOUSE_DATABASE = _clickhouse_db

# --- Ingest -----------------------------------------------------------------------------
INGEST_MAX_BODY_BYTES = env_int("INGEST_MAX_BODY_BYTES", 1024 * 1024)
# A client must send its request body within this many seconds (the embedded server: the
# whole body; compose's nginx: between two reads), or gets a 408.
INGEST_BODY_TIMEOUT_SECONDS = env_int("INGEST_BODY_TIMEOUT_SECONDS", 30)
INGEST_MAX_EVENTS = env_int("INGEST_MAX_EVENTS", 1000)
INGEST_MAX_PROPERTIES_BYTES = env_int("INGEST_MAX_PROPERTIES_BYTES", 32 * 1024)
# Objects and lists inside one another in any value an event carries (properties, $set,
# context, traits...). Stored properties may wrap a value one level deeper ($context), and
# orjson writes at most 254 levels.
INGEST_MAX_PROPERTIES_DEPTH = env_int("INGEST_MAX_PROPERTIES_DEPTH", 32)
if not 1 <= INGEST_MAX_PROPERTIES_DEPTH <= 250:
    raise ImproperlyConfigured(f"INGEST_MAX_PROPERTIES_DEPTH must be 1 to 250, got {INGEST_MAX_PROPERTIES_DEPTH}")
INGEST_MAX_FUTURE_HOURS = env_int("INGEST_MAX_FUTURE_HOURS", 24)
INGEST_MAX_PAST_DAYS = env_int("INGEST_MAX_PAST_DAYS", 365 * 2)
# The same event_id is stored once; Redis remembers ids for this long (about 100 bytes each).
INGEST_EVENT_DEDUP_SECONDS = env_int("INGEST_EVENT_DEDUP_SECONDS", 24 * 3600)
INGEST_IDEMPOTENCY_TTL_HOURS = env_int("INGEST_IDEMPOTENCY_TTL_HOURS", 48)
# A request that reserved an idempotency key and never answered (its process died) is taken
# over by a retry after this long.
INGEST_IDEMPOTENCY_LEASE_SECONDS = env_int("INGEST_IDEMPOTENCY_LEASE_SECONDS", 60)
INGEST_TRUST_X_FORWARDED_FOR = env_bool("INGEST_TRUST_X_FORWARDED_FOR", False)
# A pepper added to each UTC day's random salt of the IP hash (apps/ingest/salt.py); the day
# salts live in the database and are deleted 48 h after their day began.
INGEST_IP_SALT = env("INGEST_IP_SALT", SECRET_KEY)
# CORS: the ingest routes answer browsers on any origin (ingest keys are write-only and
# meant to be embedded in pages), refusals included, so a page can read why it was refused;
# which origins may send a project's events is the project's own allowed origins
# (apps.ingest.gate). No other route answers CORS, and no cookies ride along. Keep the
# regex in step with apps/ingest/urls.py.
CORS_URLS_REGEX = (
    r"^/(?:api/v1/events"
    r"|(?:e|batch|capture|track|i/v0/e|flags|decide)/?"
    r"|array/[^/]+/config(?:\.js)?"
    r"|v1/(?:batch|track|identify|page|screen|alias)/?)$"
)
CORS_ALLOW_ALL_ORIGINS = True
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_METHODS = ("GET", "POST", "OPTIONS")
CORS_ALLOW_HEADERS = (*cors_default_headers, "content-encoding", "x-api-key", "idempotency-key")
CORS_EXPOSE_HEADERS = ("Retry-After",)
# Batch writer: one ClickHouse INSERT carries at most this many events / bytes.
FLUSH_MAX_EVENTS = env_int("FLUSH_MAX_EVENTS", 50_000)
FLUSH_MAX_BYTES = env_int("FLUSH_MAX_BYTES", 32 * 1024 * 1024)
# Stream entries held longer than this by a consumer that stopped acking are reclaimed.
FLUSH_CLAIM_IDLE_MS = env_int("FLUSH_CLAIM_IDLE_MS", 60_000)
# One flush run keeps draining the stream for at most this long before yielding to beat.
FLUSH_MAX_SECONDS = float(env("FLUSH_MAX_SECONDS", "5"))

# --- `make run` (manage.py serve) and the demo data ---------------------------------------
HOST = env("HOST", "127.0.0.1")
PORT = env_int("PORT", 8000)
# Events seeded into the demo project when it is first created.
DEMO_EVENTS = env_int("DEMO_EVENTS", 300_000)
# The demo login's password, applied on every start when set. Unset, a new demo login gets a
# generated one, kept in var/demo_password, and keeps it across restarts.
DEMO_PASSWORD = env("DEMO_PASSWORD")

# --- Links in emails --------------------------------------------------------------------------
# The address people open PulseBoard at, for the links of emails sent with no request to
# take it from (the digests), e.g. https://analytics.example.com.
PULSEBOARD_URL = (env("PULSEBOARD_URL") or f"http://{'127.0.0.1' if HOST in ('0.0.0.0', '::') else HOST}:{PORT}").rstrip("/")
# Digests go out at or after this local hour (0-23) of the project's timezone: daily ones
# for the day before, weekly ones on Monday for the week before.
DIGEST_SEND_HOUR = env_int("DIGEST_SEND_HOUR", 8)
if not 0 <= DIGEST_SEND_HOUR <= 23:
    raise ImproperlyConfigured(f"DIGEST_SEND_HOUR must be 0 to 23, got {DIGEST_SEND_HOUR}")
# Alert notices: each delivery (an email, a webhook POST) is tried this many times, waiting
# BACKOFF, 2x BACKOFF, 4x BACKOFF... seconds between attempts, then marked failed.
ALERTS_DELIVERY_ATTEMPTS = env_int("ALERTS_DELIVERY_ATTEMPTS", 5)
ALERTS_DELIVERY_BACKOFF_SECONDS = env_int("ALERTS_DELIVERY_BACKOFF_SECONDS", 30)
ALERTS_WEBHOOK_TIMEOUT_SECONDS = env_int("ALERTS_WEBHOOK_TIMEOUT_SECONDS", 10)
# Webhooks reach public addresses only, unless this is on (apps/alerts/webhooks.py).
ALERTS_WEBHOOK_ALLOW_PRIVATE = env_bool("ALERTS_WEBHOOK_ALLOW_PRIVATE", False)

# --- Web --------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = Path(env("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Front-end packages come from npm (package.json, installed by `make run` and `make test`), not the repo.
if (BASE_DIR / "node_modules" / "chart.js" / "dist").is_dir():
    STATICFILES_DIRS.append(("vendor/chartjs", BASE_DIR / "node_modules" / "chart.js" / "dist"))
if (BASE_DIR / "node_modules" / "chartjs-plugin-annotation" / "dist").is_dir():
    STATICFILES_DIRS.append(("vendor/chartjs-plugin-annotation", BASE_DIR / "node_modules" / "chartjs-plugin-annotation" / "dist"))
if (BASE_DIR / "node_modules" / "chartjs-chart-sankey" / "dist").is_dir():
    STATICFILES_DIRS.append(("vendor/chartjs-chart-sankey", BASE_DIR / "node_modules" / "chartjs-chart-sankey" / "dist"))
if (BASE_DIR / "node_modules" / "gridstack" / "dist").is_dir():
    STATICFILES_DIRS.append(("vendor/gridstack", BASE_DIR / "node_modules" / "gridstack" / "dist"))
WHITENOISE_USE_FINDERS = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.projects.authentication.PersonalAPIKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Every API error in one shape: {"error", "message", "field"} (see pulseboard/api.py).
    "EXCEPTION_HANDLER": "pulseboard.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PulseBoard API",
    "DESCRIPTION": "Ingest product events and read them back.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The ingest routes and the live stream are plain Django views: documented by these hooks.
    "PREPROCESSING_HOOKS": ["apps.ingest.openapi.ingest_endpoints", "apps.analytics.sse.live_sse_endpoints"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "apps.ingest.openapi.ingest_security_schemes"],
}

if not EMBEDDED:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    if env_bool("TRUST_X_FORWARDED_PROTO", False):  # only behind a proxy that sets it
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # The flush runs every second; a line per run would drown everything else.
        "celery.worker.strategy": {"level": "WARNING"},
        "celery.app.trace": {"level": "WARNING"},
        "celery.beat": {"level": "WARNING"},
    },
}
