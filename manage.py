#!/usr/bin/env python
"""Management commands for Digit Reader: ``python manage.py --help``."""

from flask.cli import FlaskGroup

from app import create_app

cli = FlaskGroup(create_app=create_app, help="Digit Reader management commands.")

if __name__ == "__main__":
    cli()
