"""Liveness and readiness, for load balancers and orchestrators."""

from flask import current_app

from apiflask import APIBlueprint

from app.schemas import HealthOut, ReadyOut

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

    Ready when the model is loaded (the first call loads or trains it).
    """
    checks = {}
    try:
        checks["model"] = current_app.extensions["recognizer"].current_model().version
    except Exception as error:  # any failure to load means "not ready", with its reason
        current_app.logger.exception("Model not ready")
        checks["model"] = f"unavailable: {type(error).__name__}"
    ready = not any(value.startswith("unavailable") for value in checks.values())
    return {"status": "ready" if ready else "not_ready", "checks": checks}, (200 if ready else 503)
