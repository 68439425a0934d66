"""Every test of the history runs on SQLite and on PostgreSQL."""

import pytest


@pytest.fixture
def database_url(any_database_url):
    return any_database_url
