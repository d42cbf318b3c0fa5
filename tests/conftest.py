"""Hypothesis draws its examples the same way on every run, so a CI result can be
reproduced exactly (and a failure found once is found again)."""
from hypothesis import settings

settings.register_profile("reproducible", derandomize=True, database=None)
settings.load_profile("reproducible")


# ---- the history's back ends: an SQLite file, and a database on a throwaway PostgreSQL
# server (host_tools/pgserver.py) started once per test session when a test asks for one
import itertools

import pytest

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server of its own in a temporary folder (Debian's postgresql package);
    the tests that need it are skipped, saying why, where it cannot start."""
    from host_tools.pgserver import PgServer, PgUnavailable
    try:
        server = PgServer().start()
    except PgUnavailable as e:
        pytest.skip(f"no PostgreSQL server for these tests: {e}")
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server):
    """The URL of a database that does not exist yet on the test server (sync makes it)."""
    return pg_server.url(f"history{next(_databases)}")


@pytest.fixture(params=["sqlite", "postgresql"])
def history_db(request, tmp_path):
    """A --db value for a new history: an SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "history.sqlite"
    return request.getfixturevalue("pg_url")
