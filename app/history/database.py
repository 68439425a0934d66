"""The database engine of one process, and its schema kept up to date by
Alembic: SQLite in STORAGE_DIR by default, PostgreSQL through DATABASE_URL;
migrated on start under a lock, and later if the database was down then. A
request waits on a network database for a bounded time only."""

import fcntl
import logging
import math
import os
import threading
import time
import weakref
from concurrent.futures import Future
from concurrent.futures import TimeoutError as NoAnswer
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import sessionmaker

from app.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed 64-bit number: PostgreSQL's advisory lock for migrating on start.
MIGRATION_LOCK_KEY = 0x6469676974
# A statement PostgreSQL has not finished in this long (a lock never released)
# is cancelled by the server; migrations are exempt.
STATEMENT_TIMEOUT_MS = 30_000
# A connection whose peer is gone (a network dropped, a machine dead) fails
# within about 30 s, freeing the thread that waited on it: libpq's keepalives
# and TCP_USER_TIMEOUT. (A peer that is there and silent is the requests'
# timeout's business: see Database.call.)
POSTGRESQL_CONNECTION = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
                         "keepalives_count": 3, "tcp_user_timeout": 30_000}
# Failures that say the database is away or does not answer, not that a
# statement is wrong.
OUTAGES = (OperationalError, InterfaceError, PoolTimeout)

_databases = weakref.WeakSet()


def _start_afresh_after_fork():
    for database in list(_databases):
        database._start_afresh()


os.register_at_fork(after_in_child=_start_afresh_after_fork)


def alembic_config(url):
    """Alembic's configuration for this application's migrations on ``url``."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.render_as_string(hide_password=False)
                           .replace("%", "%%"))
    return config


def _make_engine(url, connect_timeout):
    url = make_url(url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            try:
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:  # the first write will say so, and retry
                log.error("Cannot create the folder of %s: %s", url.database, error)
        engine = create_engine(url, connect_args={"timeout": connect_timeout})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record):
            # WAL lets readers work while a writer writes; several worker
            # processes share the file.
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(connect_timeout * 1000)}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    connect_args = {}
    if url.get_backend_name() == "postgresql":
        connect_args = _postgresql_connect_args(url, connect_timeout)
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5,
                         pool_timeout=connect_timeout, connect_args=connect_args)


def _postgresql_connect_args(url, connect_timeout):
    """libpq's connect timeout, keepalives and statement timeout, each unless
    DATABASE_URL names its own."""
    arguments = {"connect_timeout": max(1, int(connect_timeout)), **POSTGRESQL_CONNECTION}
    arguments = {name: value for name, value in arguments.items() if name not in url.query}
    # First, so that a statement_timeout in the URL's own options wins.
    options = f"-c statement_timeout={STATEMENT_TIMEOUT_MS} {url.query.get('options', '')}"
    return {**arguments, "options": options.strip()}


def _in_thread(work):
    """A Future of ``work()`` run in a thread of its own, which may be left waiting."""
    future = Future()

    def run():
        future.set_running_or_notify_cancel()
        try:
            future.set_result(work())
        except BaseException as error:  # handed to whoever waits on the future
            future.set_exception(error)

    threading.Thread(target=run, name="database-call", daemon=True).start()
    return future


class Database:
    """The engine and sessions of one process.

    With a ``timeout``, a network database's work done through ``call`` (that
    of requests) is waited for that long at most; SQLite, a local file, is
    bounded by its busy timeout already.
    """

    def __init__(self, url, connect_timeout=3.0, retry_interval=5.0, lock_dir=None,
                 auto_migrate=True, timeout=None):
        self.url = make_url(url)
        self.auto_migrate = auto_migrate
        self.engine = _make_engine(self.url, connect_timeout)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.retry_interval = retry_interval
        self.timeout = timeout if self.url.get_backend_name() != "sqlite" else None
        self.lock_dir = Path(lock_dir) if lock_dir else None
        self.schema_ready = False
        self._next_schema_try = 0.0
        self._start_afresh()
        _databases.add(self)

    def _start_afresh(self):
        """New locks, and no call left waiting: in a new process, and after a
        fork, where the threads that held them are gone."""
        self._lock = threading.Lock()
        self._calls_lock = threading.Lock()
        self._skip_until = 0.0  # requests leave the database alone until then

    def call(self, work):
        """``work()``, for a request: on a network database, waited for
        ``timeout`` seconds at most. Raises DatabaseUnavailable when it did not
        answer in time, or while requests leave the database alone (a call
        still waiting, or a failure less than ``retry_interval`` ago)."""
        if self.timeout is None:
            return work()
        if time.monotonic() < self._skip_until:
            raise DatabaseUnavailable()
        future = _in_thread(work)
        try:
            return future.result(self.timeout)
        except NoAnswer:
            self._leave_waiting(future)
            raise DatabaseUnavailable() from None
        except OUTAGES:
            self._skip_for(self.retry_interval)
            raise

    def _leave_waiting(self, future):
        log.error("The database did not answer within %g s: requests leave it alone "
                  "until it does", self.timeout)
        self._skip_for(math.inf)
        future.add_done_callback(self._answered)

    def _answered(self, future):
        """A call left waiting has ended: requests use the database again, after
        ``retry_interval`` if it failed."""
        error = future.exception()
        if error is None:
            log.warning("The database answers again")
        else:
            log.warning("A call left waiting on the database failed: %r", error)
        with self._calls_lock:
            self._skip_until = time.monotonic() + self.retry_interval if error else 0.0

    def _skip_for(self, seconds):
        with self._calls_lock:
            self._skip_until = max(self._skip_until, time.monotonic() + seconds)

    @contextmanager
    def session(self):
        """A session that commits on success and rolls back on error."""
        with self.sessions() as session:
            with session.begin():
                yield session

    def ping(self):
        """Raises SQLAlchemyError or DatabaseUnavailable when the database does
        not answer (in time)."""
        self.call(self._ping)

    def _ping(self):
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    # -- schema ---------------------------------------------------------------

    def head_revision(self):
        """The newest migration's revision."""
        return ScriptDirectory.from_config(alembic_config(self.url)).get_current_head()

    def current_revision(self):
        """The schema's revision in the database (None: no schema)."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def upgrade(self, revision="head"):
        """Migrate the schema to ``revision`` (the newest by default)."""
        self._migrate(command.upgrade, revision)

    def downgrade(self, revision):
        """Migrate the schema down to ``revision`` ("base" removes it)."""
        self._migrate(command.downgrade, revision)

    def _migrate(self, step, revision):
        # Under a lock shared by every process that migrates.
        with self._migration_lock() as connection:
            config = alembic_config(self.url)
            config.attributes["connection"] = connection
            step(config, revision)
            if connection.in_transaction():
                connection.commit()
        self.schema_ready = self.current_revision() == self.head_revision()

    def ensure_schema(self):
        """Bring the schema up to date (or, without auto_migrate, check that it
        is); True when it is. A failure is logged, and tried again at most every
        ``retry_interval`` seconds; a request waits for it as for any ``call``."""
        if self.schema_ready:
            return True
        try:
            return self.call(self._ensure_schema)
        except DatabaseUnavailable:
            return False

    def _ensure_schema(self):
        with self._lock:
            if self.schema_ready or time.monotonic() < self._next_schema_try:
                return self.schema_ready
            try:
                if self.auto_migrate:
                    self.upgrade()
                else:
                    self.schema_ready = self.current_revision() == self.head_revision()
                    if not self.schema_ready:
                        log.error("The database schema is not up to date: run "
                                  "'python manage.py db upgrade'")
            except (SQLAlchemyError, OSError) as error:
                log.error("Database %s is not available: %s",
                          self.url.render_as_string(hide_password=True), error)
            if not self.schema_ready:
                self._next_schema_try = time.monotonic() + self.retry_interval
            return self.schema_ready

    @contextmanager
    def _migration_lock(self):
        backend = self.url.get_backend_name()
        if backend == "sqlite" and self.lock_dir:
            self.lock_dir.mkdir(parents=True, exist_ok=True)
            with open(self.lock_dir / ".migrate.lock", "w") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                try:
                    with self.engine.connect() as connection:
                        yield connection
                finally:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)
        elif backend == "postgresql":
            with self.engine.connect() as connection:
                # A migration, and the wait for another process's, take as long as they take.
                connection.execute(text("SET statement_timeout = 0"))
                connection.execute(text("SELECT pg_advisory_lock(:key)"),
                                   {"key": MIGRATION_LOCK_KEY})
                connection.commit()
                try:
                    yield connection
                finally:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                                       {"key": MIGRATION_LOCK_KEY})
                    connection.execute(text("RESET statement_timeout"))
                    connection.commit()
        else:
            with self.engine.connect() as connection:
                yield connection

    def dispose(self):
        """Close the pooled connections."""
        self.engine.dispose()
