"""Every test of the history runs on SQLite and on PostgreSQL."""

import pytest


@pytest.fixture
def database_url(any_database_url):
    return any_database_url


@pytest.fixture(autouse=True)
def rows_written_before_the_next_test(request):
    """The rows a test's app still queues are written before the next test empties
    the tables: written late, a row would land in that test's table."""
    yield
    app = request.node.funcargs.get("app")
    if app is not None:
        app.extensions["history"].close()
        app.extensions["database"].dispose()
