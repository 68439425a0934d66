"""The API's description: the OpenAPI document's additions, and the page at
/docs (Swagger UI from the swagger-ui-bundle package: no internet needed)."""

from flask import Blueprint, render_template
from swagger_ui_bundle import swagger_ui_path

from app.web.schemas import ERROR_SCHEMA, image_request_body

bp = Blueprint("docs", __name__, static_folder=swagger_ui_path, static_url_path="/docs/assets")


@bp.get("/docs")
def docs():
    """Swagger UI on this service's OpenAPI document."""
    return render_template("docs.html")


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
