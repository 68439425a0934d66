"""The pages people use in a browser."""

from flask import Blueprint, render_template

bp = Blueprint("web", __name__)


@bp.get("/")
def draw():
    return render_template("draw.html")
