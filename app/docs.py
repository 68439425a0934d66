"""The API documentation page at /docs: Swagger UI served from the
swagger-ui-bundle package, so it works with no internet access."""

from flask import Blueprint, render_template
from swagger_ui_bundle import swagger_ui_path

bp = Blueprint("docs", __name__, static_folder=swagger_ui_path, static_url_path="/docs/assets")


@bp.get("/docs")
def docs():
    return render_template("docs.html")
