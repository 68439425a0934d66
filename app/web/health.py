"""Liveness and readiness, for load balancers and orchestrators."""

from apiflask import APIBlueprint
from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from app.errors import DatabaseUnavailable
from app.extensions import get_database, get_history, get_reader, get_redis
from app.web.schemas import HealthOut, ReadyOut

bp = APIBlueprint("health", __name__, tag="Health")


@bp.get("/healthz")
@bp.output(HealthOut, description="The process is alive")
def healthz():
    """Liveness"""
    return {"status": "ok"}


@bp.get("/readyz")
@bp.output(ReadyOut, description="Ready to answer")
@bp.doc(responses={503: "Not ready: see the checks"})
def readyz():
    """Readiness

    Ready when the model is loaded (the first call loads or trains it) and the
    database answers with its schema up to date. `checks` says how each part
    stands, with this process's counts of failed and queued prediction writes.
    With REDIS_URL, `redis` is `ok`, or `degraded` while Redis does not answer:
    still ready, since answers go on (rate limits counted in each process, the
    model read from its file).
    """
    checks = {}
    try:
        checks["model"] = get_reader().model()["version"]
    except Exception as error:  # any failure to load means "not ready", with its reason
        current_app.logger.exception("Model not ready")
        checks["model"] = f"unavailable: {type(error).__name__}"
    checks["database"] = database_check()
    if get_redis() is not None:
        checks["redis"] = redis_check()
    history = get_history()
    stats = history.write_stats
    checks["failed_writes"] = str(stats.failures)
    checks["queued_writes"] = str(history.queued_writes())
    if stats.last_error:
        checks["last_write_error"] = stats.last_error
    ready = not any(value.startswith("unavailable") for value in checks.values())
    return {"status": "ready" if ready else "not_ready", "checks": checks}, (200 if ready else 503)


def database_check():
    """The database's check: "ok", or "unavailable" (the driver's message is
    logged, not shown)."""
    database = get_database()
    try:
        database.ping()
    except (SQLAlchemyError, DatabaseUnavailable) as error:
        current_app.logger.warning("Database not ready: %s", error)
        return "unavailable"
    return "ok" if database.ensure_schema() else "unavailable: schema not ready"


def redis_check():
    """Redis's check: "ok", or "degraded: " and the kind of failure (its message
    is logged)."""
    try:
        get_redis().ping()
    except RedisError as error:
        current_app.logger.warning("Redis does not answer: %s", error)
        return f"degraded: {type(error).__name__}"
    return "ok"
