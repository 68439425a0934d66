"""What the model page and ``GET /api/model`` say of the model: how it was
trained, and how well it reads in use, from the readings people labelled."""

from flask import current_app

from app.errors import DatabaseUnavailable
from app.extensions import get_history, get_reader

WINDOW = 50  # labelled readings per point of the plot
MOST_READINGS = 10_000  # the plot's reach back: one query, bounded


def model_report():
    """The model's metadata with the totals and figures in use that the model
    page and the API show."""
    metadata = get_reader().model()
    return {**metadata, "training_samples": sum(metadata["samples"].values()),
            "provisional": metadata.get("provisional", False),
            "learning": current_app.config["LEARNING"], "in_use": accuracy_in_use()}


def accuracy_in_use():
    """The share of labelled readings read right over the last 100 and 1,000,
    and in each WINDOW of them; None when the database is not available."""
    try:
        readings = get_history().labelled_readings(MOST_READINGS)
    except DatabaseUnavailable:
        return None
    shares = {}
    for last in (100, 1000):
        accuracy, count = readings.accuracy(last)
        shares[f"last_{last}"] = {"readings": count, "accuracy": accuracy}
    return {**shares, "window": WINDOW, "history": readings.per_window(WINDOW)}


PLOT_WIDTH, PLOT_HEIGHT, PLOT_LEFT, PLOT_PAD = 560, 180, 44, 10
PLOT_FLOOR = 0.5  # the plot's lowest share: below it, a point sits on the axis


def accuracy_plot(history):
    """Where to draw ``history`` (shares right, oldest first) on the model page:
    the polyline's points, the dots, and the grid lines with their labels; None
    for no point."""
    if not history:
        return None
    inner = PLOT_HEIGHT - 2 * PLOT_PAD

    def y(share):
        return round(PLOT_PAD + inner * (1 - (max(share, PLOT_FLOOR) - PLOT_FLOOR)
                                         / (1 - PLOT_FLOOR)), 1)

    step = (PLOT_WIDTH - PLOT_LEFT - 2 * PLOT_PAD) / max(len(history) - 1, 1)
    dots = [(round(PLOT_LEFT + PLOT_PAD + i * step, 1), y(share))
            for i, share in enumerate(history)]
    return {"width": PLOT_WIDTH, "height": PLOT_HEIGHT, "left": PLOT_LEFT,
            "points": " ".join(f"{x},{y}" for x, y in dots),
            "dots": dots if len(dots) <= 100 else [],
            "grid": [{"y": y(share), "label": f"{share:.0%}"} for share in (0.5, 0.75, 1.0)]}
