"""The API's description: the OpenAPI document's additions, and the page at
/docs (Swagger UI from the swagger-ui-bundle package: no internet needed)."""

from flask import Blueprint, abort, render_template, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from app.web.schemas import ERROR_SCHEMA, image_request_body

bp = Blueprint("docs", __name__)

# What /docs uses of the swagger-ui-bundle package, and nothing else of it (not
# its stock petstore page or its OAuth redirect page).
DOCS_ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js")


@bp.get("/docs")
def docs():
    """Swagger UI on this service's OpenAPI document."""
    return render_template("docs.html")


@bp.get("/docs/assets/<name>")
def asset(name):
    """One of the Swagger UI files the docs page uses."""
    if name not in DOCS_ASSETS:
        abort(404)
    return send_from_directory(swagger_ui_path, name, max_age=3600)


def describe_api(app):
    """The OpenAPI document's error schema, rate-limit answers and image bodies."""
    app.config["HTTP_ERROR_SCHEMA"] = ERROR_SCHEMA
    app.config["VALIDATION_ERROR_SCHEMA"] = ERROR_SCHEMA

    rate_limited = {
        "description": "Too many requests from this client: wait as Retry-After says",
        "headers": {"Retry-After": {"schema": {"type": "integer"},
                                    "description": "Seconds until a request is accepted"}},
        "content": {"application/json": {"schema": ERROR_SCHEMA}},
    }

    @app.spec_processor
    def describe_image_bodies_and_limits(spec):
        for path, operations in spec["paths"].items():
            for operation in operations.values():
                if not isinstance(operation, dict):
                    continue
                if path.startswith("/api/"):
                    operation["responses"]["429"] = rate_limited
                if operation.pop("x-image-body", False):
                    operation["requestBody"] = image_request_body()
                    answer = operation["responses"]["200"]["content"]
                    answer["text/plain"] = {"schema": {"type": "string", "pattern": "^[0-9]+\n$"}}
        return spec
