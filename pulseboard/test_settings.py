"""Settings for the test suite: the environment of a test run, then the real settings.

Tests talk to the real Postgres and Redis on 127.0.0.1 and to chdb in a temporary
directory. Every Redis key of a run starts with its own prefix, so a test run never
touches the data of a PulseBoard running on the same Redis.
"""

import os
import tempfile
import uuid

_RUN_DERIVED = ("PULSEBOARD_VAR_DIR", "REDIS_KEY_PREFIX", "SECRET_KEY")
# A parallel worker (pytest-xdist) inherits what the controller set from its run id; it takes
# a run id of its own, so each worker has its own Redis prefix, chdb directory and test
# database. Processes a test starts inherit the worker's settings unchanged.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker and os.environ.get("PULSEBOARD_TEST_WORKER") != _worker:
    os.environ["PULSEBOARD_TEST_WORKER"] = _worker
    os.environ["PULSEBOARD_TEST_RUN"] = os.environ.get("PULSEBOARD_TEST_RUN", uuid.uuid4().hex[:10]) + _worker
    for _name in _RUN_DERIVED:
        os.environ.pop(_name, None)
_run = os.environ.setdefault("PULSEBOARD_TEST_RUN", uuid.uuid4().hex[:10])
os.environ.setdefault("PULSEBOARD_DEPLOYMENT", "embedded")
os.environ.setdefault("PULSEBOARD_VAR_DIR", tempfile.mkdtemp(prefix=f"pulseboard-test-{_run}-"))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/pulseboard")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("REDIS_KEY_PREFIX", f"pbtest:{_run}")
os.environ.setdefault("SECRET_KEY", f"test-only-{_run}")
# Threads of the live server must not keep connections open, or the test database cannot be dropped.
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "0")

from pulseboard import embedded  # noqa: E402

if not embedded.redis_answers(os.environ["REDIS_URL"], timeout=2):
    raise RuntimeError(
        f"The tests need Redis at {os.environ['REDIS_URL']} and nothing answers there. Start it with:\n"
        '  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no\n'
        "(`make test` starts it for you.)"
    )

from django.conf import global_settings  # noqa: E402

from pulseboard.settings import *  # noqa: E402,F401,F403

# A test database of its own per run, so that runs side by side never share one.
DATABASES["default"]["TEST"] = {"NAME": f"test_pulseboard_{_run}"}  # noqa: F405

# Email stays in memory (django.core.mail.outbox), whatever the environment says.
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# The tests' webhook receivers listen on 127.0.0.1; apps/alerts/tests/test_webhooks.py turns
# the public-addresses-only rule back on where it tests it.
ALERTS_WEBHOOK_ALLOW_PRIVATE = True

# Test users get a fast password hash: the default PBKDF2 takes most of a second per hash
# (each user a factory makes, each login), a large share of the suite. The default
# hashers stay listed, so a password that a process on the real settings hashed still
# verifies here. Production keeps Django's defaults (pulseboard/settings.py sets none).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *global_settings.PASSWORD_HASHERS]
