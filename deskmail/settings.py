"""Django settings, read from the environment.

Deployment facts only: everything about a mailbox lives in its row. The
embedded default (no DATABASE_URL) is SQLite plus a data folder, with a secret
key and an encryption key generated into that folder on first start.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from deskmail.env import (
    SettingError,
    env_bool,
    env_list,
    env_number,
    env_str,
    fernet_keys,
    new_fernet_key,
    new_secret_key,
    persisted_secret,
)

# Generic Django classes (ModelAdmin[Mailbox], TextField[str, str]) at run time too.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent

try:
    DATA_DIR = Path(env_str("DESKMAIL_DATA_DIR", "data")).resolve()
    DEBUG = env_bool("DEBUG", False)
    SECRET_KEY = env_str("DESKMAIL_SECRET_KEY") or persisted_secret(
        DATA_DIR / "secret_key", new_secret_key
    )
    # Comma-separated Fernet keys, newest first: the first encrypts, all decrypt.
    ENCRYPTION_KEYS = fernet_keys(
        "DESKMAIL_ENCRYPTION_KEYS", env_list("DESKMAIL_ENCRYPTION_KEYS")
    ) or [persisted_secret(DATA_DIR / "encryption_key", new_fernet_key)]
    ALLOWED_HOSTS = env_list("DESKMAIL_ALLOWED_HOSTS") or ["127.0.0.1", "localhost", "[::1]"]
    CSRF_TRUSTED_ORIGINS = env_list("DESKMAIL_CSRF_TRUSTED_ORIGINS")
    # Served to browsers over HTTPS (directly or by a proxy that sets X-Forwarded-Proto).
    BEHIND_TLS = env_bool("DESKMAIL_BEHIND_TLS", False)
    # Extra CA bundle for mail servers with a private CA (verification stays on).
    CA_FILE = env_str("DESKMAIL_CA_FILE") or None
    # The mailbox that sends for tickets that did not come in by email.
    DESKMAIL_DEFAULT_SENDING_MAILBOX = env_str("DESKMAIL_DEFAULT_SENDING_MAILBOX")
    # Where people reach the console from outside (https://desk.example.com): links in
    # mail (a new sender's confirmation link) start with it; unset, mail carries none.
    DESKMAIL_PUBLIC_URL = env_str("DESKMAIL_PUBLIC_URL").rstrip("/")
    # Each message is parsed in a pool of processes (one per core), within a budget:
    # a message over it is kept raw in the quarantine.
    PARSE_IN_PROCESSES = env_bool("DESKMAIL_PARSE_IN_PROCESSES", True)
    PARSE_PROCESSES = int(env_number("DESKMAIL_PARSE_PROCESSES", os.cpu_count() or 2, minimum=1))
    PARSE_SECONDS = env_number("DESKMAIL_PARSE_SECONDS", 30, minimum=0.1)
    PARSE_MEMORY_MB = int(env_number("DESKMAIL_PARSE_MEMORY_MB", 2048, minimum=256))
    # Requests a minute one API token (or console session) may make, counted in the database.
    DESKMAIL_API_RATE_LIMIT = int(env_number("DESKMAIL_API_RATE_LIMIT", 600, minimum=1))
    _database_url = env_str("DATABASE_URL")
except SettingError as exc:
    raise ImproperlyConfigured(str(exc)) from exc

if _database_url:
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
else:
    # Owner only: it holds the keys, the secrets and the mail (an existing one is left as it
    # is; `deskmail run` says when it is open to others).
    DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    _database_file = DATA_DIR / "deskmail.sqlite3"
    if not _database_file.exists():
        os.close(os.open(_database_file, os.O_WRONLY | os.O_CREAT, 0o600))
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(_database_file),
            "OPTIONS": {
                # WAL lets the console read while the worker writes.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            # Tests use a file too, not shared-cache memory: the worker's threads and
            # processes then see the same locking (WAL, busy timeout) as production.
            "TEST": {"NAME": DATA_DIR / "test.sqlite3"},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "deskmail.core",
    "deskmail.mailboxes",
    "deskmail.tickets",
    "deskmail.events",
    "deskmail.ingest",
    "deskmail.routing",
    "deskmail.tasks",
    "deskmail.outbound",
    "deskmail.suggest",
    "deskmail.sync",
    "deskmail.msgraph",
    "deskmail.cli",
    # The API, its tokens and the webhooks. django-ninja is not an app here: an app's
    # package is imported by every command, and ninja's pulls in all of it. Its bundled,
    # offline /api/docs assets are found through NINJA_FILES below instead.
    "deskmail.apitokens",
    "deskmail.webhooks",
    "deskmail.api",
    "deskmail.console",
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
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "deskmail.console.middleware.ServiceErrorMiddleware",
]

# django-ninja's own folder, located without importing the package.
_ninja_spec = importlib.util.find_spec("ninja")
if _ninja_spec is None or _ninja_spec.origin is None:
    raise ImproperlyConfigured("django-ninja is not installed (pip install deskmail again)")
NINJA_FILES = Path(_ninja_spec.origin).parent

ROOT_URLCONF = "deskmail.urls"
ASGI_APPLICATION = "deskmail.asgi.application"
WSGI_APPLICATION = "deskmail.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # ninja/swagger.html and what it includes, for /api/docs.
        "DIRS": [NINJA_FILES / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
            ],
        },
    },
]

# Argon2id first: new and changed passwords use it, older hashes are upgraded at sign-in.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
LOGIN_URL = "/"
LOGIN_REDIRECT_URL = "/tickets/"

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
STATIC_ROOT = DATA_DIR / "static"
# Static files are served from the apps by WhiteNoise (WHITENOISE_USE_FINDERS);
# the folder must exist all the same, or WhiteNoise warns on every start.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = True
# Swagger UI's files (ninja/swagger-ui.css ...), as the app would have served them.
STATICFILES_DIRS = [NINJA_FILES / "static"]
STORAGES = {
    # Raw messages and attachments: content-addressed files under the data folder
    # by default; any Django storage backend can take their place.
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": DATA_DIR / "files"},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = BEHIND_TLS
if BEHIND_TLS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 31536000
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# No inline script anywhere, no remote host: the console's scripts are static files.
# Mail bodies get a stricter policy of their own (deskmail/console/views/bodies.py).
SECURE_CSP = {
    "default-src": [CSP.NONE],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "frame-src": [CSP.SELF],
    "media-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("DESKMAIL_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
