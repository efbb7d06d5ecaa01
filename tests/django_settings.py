"""Settings for the test suite: webapp's settings, with every path and shared service made private to one run.

The environment decides the path under test: with DATABASE_URL / REDIS_URL set
(`make test` does so for its second pass) the same tests run on PostgreSQL and
Redis; without them, on SQLite files and the filesystem broker.
"""
import os
import tempfile

# Worker processes started by the tests inherit these, so they share the run's folders and names.
_run_dir = os.environ.setdefault("STREETSHOP_TEST_RUN_DIR", tempfile.mkdtemp(prefix="streetshop-test-"))
os.environ["STREETSHOP_VAR_DIR"] = _run_dir
os.environ.setdefault("STREETSHOP_REDIS_PREFIX", f"streetshop-test-{os.getpid()}:")

from webapp.settings import *  # noqa: E402,F401,F403
from webapp.settings import DATABASES  # noqa: E402

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not memory: worker processes started by the tests open the same database.
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(_run_dir, "test.sqlite3")}
else:
    # One database per run, so two runs on one server never meet; pytest-django drops it at the end.
    DATABASES["default"]["TEST"] = {"NAME": f"test_streetshop_{os.path.basename(_run_dir).split('-')[-1]}"}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast users in tests
DATABASES["default"]["CONN_MAX_AGE"] = 0  # no connection outlives a request or task: the test database can be dropped
