"""The database engine of one process, and its schema kept up to date by
Alembic: SQLite in STORAGE_DIR by default, PostgreSQL through DATABASE_URL;
migrated on start under a lock, and later if the database was down then."""

import fcntl
import logging
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed 64-bit number: PostgreSQL's advisory lock for migrating on start.
MIGRATION_LOCK_KEY = 0x6469676974


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
        connect_args = {"connect_timeout": max(1, int(connect_timeout))}
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5,
                         pool_timeout=connect_timeout, connect_args=connect_args)


class Database:
    """The engine and sessions of one process."""

    def __init__(self, url, connect_timeout=3.0, retry_interval=5.0, lock_dir=None,
                 auto_migrate=True):
        self.url = make_url(url)
        self.auto_migrate = auto_migrate
        self.engine = _make_engine(self.url, connect_timeout)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.retry_interval = retry_interval
        self.lock_dir = Path(lock_dir) if lock_dir else None
        self.schema_ready = False
        self._next_schema_try = 0.0
        self._lock = threading.Lock()

    @contextmanager
    def session(self):
        """A session that commits on success and rolls back on error."""
        with self.sessions() as session:
            with session.begin():
                yield session

    def ping(self):
        """Raises SQLAlchemyError when the database does not answer."""
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
        ``retry_interval`` seconds."""
        if self.schema_ready:
            return True
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
                connection.execute(text("SELECT pg_advisory_lock(:key)"),
                                   {"key": MIGRATION_LOCK_KEY})
                connection.commit()
                try:
                    yield connection
                finally:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                                       {"key": MIGRATION_LOCK_KEY})
                    connection.commit()
        else:
            with self.engine.connect() as connection:
                yield connection

    def dispose(self):
        """Close the pooled connections."""
        self.engine.dispose()
