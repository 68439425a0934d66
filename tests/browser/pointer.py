"""Drawing on the pad as a person does: strokes in pad units (0-1 across, as
in tests/conftest.py), turned into real mouse or touch input."""

import math

STEP_PX = 12  # how far a hand moves between two pointer events, at most

# Digits as a person draws them clearly, beside ONE and ZERO in tests/conftest.py
# (whose SEVEN, short in its bar, reads as 7 only narrowly).
SEVEN = [[(0.22, 0.18), (0.78, 0.18), (0.42, 0.88)]]
FOUR = [[(0.62, 0.15), (0.25, 0.62), (0.8, 0.62)], [(0.62, 0.15), (0.62, 0.88)]]


def pad_box(page):
    return page.locator("#pad").bounding_box()


def to_screen(box, point):
    x, y = point
    return box["x"] + x * box["width"], box["y"] + y * box["height"]


def interpolate(box, stroke):
    """Screen points along a stroke, close enough together to look like a hand."""
    points = [to_screen(box, point) for point in stroke]
    path = [points[0]]
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        steps = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / STEP_PX))
        path += [(x0 + (x1 - x0) * step / steps, y0 + (y1 - y0) * step / steps)
                 for step in range(1, steps + 1)]
    return path


def draw_with_mouse(page, strokes):
    box = pad_box(page)
    for stroke in strokes:
        path = interpolate(box, stroke)
        page.mouse.move(*path[0])
        page.mouse.down()
        for point in path[1:]:
            page.mouse.move(*point)
        page.mouse.up()


def draw_with_touch(page, strokes):
    """Real touch input (Chrome DevTools protocol), as a finger on a phone sends it:
    the browser makes touch pointer events of it, or scrolls the page."""
    cdp = page.context.new_cdp_session(page)
    box = pad_box(page)
    for stroke in strokes:
        path = interpolate(box, stroke)
        for index, (x, y) in enumerate(path):
            kind = "touchStart" if index == 0 else "touchMove"
            cdp.send("Input.dispatchTouchEvent",
                     {"type": kind, "touchPoints": [{"x": x, "y": y, "id": 1}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()
