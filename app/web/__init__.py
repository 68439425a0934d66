"""HTTP only: the API, the pages, health, docs and their schemas. Views call the
reader and the history (app.extensions) and nothing below them; never training."""
