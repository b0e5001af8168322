"""Django settings, all read from the environment (see README, "Configuration")."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.utils.translation import gettext_lazy as _

from bastion.core.env import (
    ConfigError,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_str,
    env_timezone,
    parse_database_url,
)

PACKAGE_DIR = Path(__file__).resolve().parent
# The repository root when running from a checkout; var/ holds the embedded database.
BASE_DIR = Path(env_str("BASTION_HOME", str(Path.cwd())))
VAR_DIR = BASE_DIR / "var"

DEBUG = env_bool("DEBUG", False)
# A development key is allowed only when DEBUG is on or when running the embedded demo.
_dev_key = env_bool("BASTION_DEV", False) or DEBUG
SECRET_KEY = env_str("SECRET_KEY", "insecure-dev-key-do-not-deploy" if _dev_key else None)
if not _dev_key and len(SECRET_KEY) < 32:
    raise ConfigError("SECRET_KEY must be at least 32 characters in production")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if _dev_key else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

_database = parse_database_url(
    env_str("DATABASE_URL", "sqlite:///var/bastion.db"),
    base_dir=BASE_DIR,
)
DATABASES = {"default": _database.config}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Serves the API docs' Swagger UI from its own static files: the console works offline.
    "ninja",
    # Failed logins counted per account; the account locked for a while after too many.
    "axes",
    # Content-Security-Policy on every answer (its system check catches settings of the old form).
    "csp",
    "bastion.core",
    "bastion.city",
    "bastion.cases",
    "bastion.zones",
    "bastion.testing",
    "bastion.supply",
    "bastion.delivery",
    "bastion.transfer",
    "bastion.codes",
    "bastion.care",
    "bastion.appeals",
    "bastion.console",
    "bastion.cli",
    "bastion.scenario",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "bastion.console.middleware.DomainErrorMiddleware",
    # Before any view or the CSRF check reads a body: a too large upload is refused unread.
    "bastion.console.middleware.UploadLimitMiddleware",
    # Last: answers a locked account's login with the lockout page (django-axes).
    "axes.middleware.AxesMiddleware",
]

# Logins, the console's and the admin's alike, go through django-axes first: after
# AXES_FAILURE_LIMIT wrong passwords in a row an account is locked for AXES_COOLOFF_TIME, even
# to the right password; a successful login clears the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "console/locked.html"
# The log of every attempt belongs to audit, not to a second table that grows for ever.
AXES_DISABLE_ACCESS_LOG = True
# django-axes would rather lock by address too; an account is what is guessed at, from wherever
# the guesses come, so the lock is by account (a city's offices share a few addresses).
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

# Uploads: a file larger than FILE_UPLOAD_MAX_MEMORY_SIZE is spooled to a temporary file on
# disk, never held in memory; one larger than UPLOAD_MAX_MB is refused (413) before it is read
# (console.middleware.UploadLimitMiddleware, by its Content-Length; core.files.checked_upload).
# DATA_UPLOAD_MAX_MEMORY_SIZE (Django's default, 2.5 MB) bounds every other request body.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_MB", 200) * 1024 * 1024

# Load shedding on the hot endpoints (core/shedding.py, ARCHITECTURE.md "Load shedding"): in
# each server process at most SHEDDING_IN_FLIGHT requests of one opted-in endpoint run at once;
# another waits at most SHEDDING_WAIT_MS for a slot, else it is answered 503 with Retry-After:
# SHEDDING_RETRY_AFTER_S, unread. Serve with many more blocking threads than SHEDDING_IN_FLIGHT
# (README: 24), so that requests wait here, bounded, not in the server's own queue, unbounded.
SHEDDING_IN_FLIGHT = env_int("SHEDDING_IN_FLIGHT", 2)
SHEDDING_WAIT_MS = env_int("SHEDDING_WAIT_MS", 100)
SHEDDING_RETRY_AFTER_S = env_int("SHEDDING_RETRY_AFTER_S", 1)

ROOT_URLCONF = "bastion.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "bastion.console.context.navigation",
            ],
        },
    },
]
WSGI_APPLICATION = "bastion.wsgi.application"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:home"
LOGOUT_REDIRECT_URL = "console:login"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
# Protocol day counts are calendar days in the city's time zone (ARCHITECTURE.md, "Time").
TIME_ZONE = env_timezone("BASTION_TIMEZONE", "Asia/Shanghai")

# The national protocol applied until an officer adopts another (cases.ProtocolInForce).
BASTION_PROTOCOL = env_choice("BASTION_PROTOCOL", "v9", ["v9", "nov2022", "dec2022"])
# "automatic": a new case's zones are in force at once; "proposed": an officer confirms them.
BASTION_ZONE_DESIGNATION = env_choice("BASTION_ZONE_DESIGNATION", "automatic", ["automatic", "proposed"])

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# In development the static files are served from the apps without collectstatic.
WHITENOISE_USE_FINDERS = _dev_key

# --- Security (README, "Configuration"; `bastion check --deploy` is clean in production) -------
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not _dev_key)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Plain http is answered with a redirect to https in production. Behind a proxy that ends TLS
# (BEHIND_PROXY, which trusts its X-Forwarded-Proto) the redirect still works; it is turned off
# only where the platform is served on plain http on purpose (the benchmarks on loopback).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not _dev_key)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_PROXY", False) else None
# Browsers keep to HTTPS for a year once they have seen the site (not in development, on http),
# and so on the platform's own subdomains: it is served from a host name of its own
# (bastion.<city>.gov.cn), whose subdomains are its own. An operator who serves it from a domain
# that other, plain-http services live under turns HSTS_INCLUDE_SUBDOMAINS off.
SECURE_HSTS_SECONDS = 0 if _dev_key else 365 * 24 * 3600
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("HSTS_INCLUDE_SUBDOMAINS", True)
# Off unless asked: the preload list binds the whole registrable domain (the city's, with every
# service under it) to HTTPS for years, which is the domain owner's decision, not one
# application's. Django's check asks for it (W021); while it is off that is a decision, so the
# warning is silenced rather than shown on every deploy.
SECURE_HSTS_PRELOAD = env_bool("HSTS_PRELOAD", False)
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS.append("security.W021")
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Content-Security-Policy (django-csp): the pages load scripts, styles and images from the
# platform alone, with nothing inline (the console's behaviours live in console/console.js, its
# styles in static CSS files; tests/console/test_csp.py keeps inline ones from coming back).
# The API docs page widens it for its images alone (api/root.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
}
