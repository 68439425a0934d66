"""The draw page in number mode, in a real browser: a wide pad, the number read
digit by digit as it is drawn, each digit outlined on the pad; and back to
digit mode."""

import re

import pytest
from playwright.sync_api import expect

from conftest import ONE, circle

from .conftest import PHONE
from .pointer import draw_with_mouse

# A "1", a "0" and a "1" side by side on the wide pad (pad units: 0-1 across
# and 0-1 down, on a pad 2.5 times as wide as it is high).
ONE_ZERO_ONE = [
    [(0.15, 0.15), (0.15, 0.85)],
    *circle(cx=0.42, cy=0.5, rx=0.085, ry=0.33),
    [(0.72, 0.15), (0.72, 0.85)],
]


def switch_to_number(page):
    page.get_by_role("radio", name="Number").check()
    expect(page.locator("#draw-page")).to_have_attribute("data-mode", "number")


def pad_shape(page):
    box = page.locator("#pad").bounding_box()
    return box["width"] / box["height"]


def test_number_mode_has_a_wide_pad_that_draws_without_scrolling(page):
    page.goto("/")
    assert pad_shape(page) == pytest.approx(1, abs=0.02)
    switch_to_number(page)
    assert pad_shape(page) == pytest.approx(2.5, abs=0.05)
    assert page.evaluate("getComputedStyle(document.getElementById('pad')).touchAction") == "none"
    expect(page.locator("#number")).to_have_text("")
    expect(page.locator("#answer")).to_be_hidden()
    expect(page.locator("#number-answer")).to_be_visible()


def test_a_number_drawn_with_the_mouse_is_read_digit_by_digit(page):
    page.goto("/")
    switch_to_number(page)
    with page.expect_request("**/api/read"):
        draw_with_mouse(page, ONE_ZERO_ONE)
    expect(page.locator("#number")).to_have_text("101")
    digits = page.locator("#number-digits li")
    expect(digits).to_have_count(3)
    expect(digits.locator(".p-digit")).to_have_text(["1", "0", "1"])
    expect(digits.locator(".p-value")).to_have_text([re.compile(r"^\d{1,3}% sure$")] * 3)


def test_each_digit_found_is_outlined_where_it_was_drawn(page):
    page.goto("/")
    switch_to_number(page)
    draw_with_mouse(page, ONE_ZERO_ONE)
    expect(page.locator("#number")).to_have_text("101")
    outlines = page.locator("#pad-boxes .digit-box")
    expect(outlines).to_have_count(3)
    pad = page.locator("#pad").bounding_box()
    boxes = [outlines.nth(index).bounding_box() for index in range(3)]
    # Each outline holds the middle of its stroke as drawn, in screen pixels.
    for box, centre_x in zip(boxes, (0.15, 0.42, 0.72), strict=True):
        x = pad["x"] + centre_x * pad["width"]
        y = pad["y"] + 0.5 * pad["height"]
        assert box["x"] < x < box["x"] + box["width"]
        assert box["y"] < y < box["y"] + box["height"]
        assert box["height"] > 0.5 * pad["height"]
    expect(outlines.locator(".digit-box-label")).to_have_text(["1", "0", "1"])


def test_a_blank_number_pad_shows_nothing_and_asks_nothing(page):
    readings = []
    page.on("request", lambda request: "/api/" in request.url and readings.append(request.url))
    page.goto("/")
    switch_to_number(page)
    page.wait_for_timeout(500)
    expect(page.locator("#number")).to_have_text("")
    expect(page.locator("#number-digits li")).to_have_count(0)
    expect(page.locator("#pad-boxes .digit-box")).to_have_count(0)
    assert readings == []


def test_clear_and_undo_work_in_number_mode(page):
    page.goto("/")
    switch_to_number(page)
    draw_with_mouse(page, ONE_ZERO_ONE)
    expect(page.locator("#number")).to_have_text("101")

    with page.expect_response("**/api/read"):
        page.locator("#undo").click()
    expect(page.locator("#number")).to_have_text("10")
    expect(page.locator("#pad-boxes .digit-box")).to_have_count(2)

    page.locator("#clear").click()
    page.wait_for_timeout(500)
    expect(page.locator("#number")).to_have_text("")
    expect(page.locator("#pad-boxes .digit-box")).to_have_count(0)
    expect(page.locator("#undo")).to_be_disabled()


def test_switching_mode_clears_the_pad_and_digit_mode_still_reads_a_digit(page):
    page.goto("/")
    switch_to_number(page)
    draw_with_mouse(page, ONE_ZERO_ONE)
    expect(page.locator("#number")).to_have_text("101")

    digit_mode = page.get_by_role("radio", name="Digit")
    digit_mode.focus()  # the switch works from the keyboard: arrows move between radios
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowLeft")
    expect(digit_mode).to_be_checked()
    expect(page.locator("#draw-page")).to_have_attribute("data-mode", "digit")
    expect(page.locator("#digit")).to_have_text("")
    expect(page.locator("#undo")).to_be_disabled()
    assert pad_shape(page) == pytest.approx(1, abs=0.02)

    with page.expect_request("**/api/predict?explain=1"):
        draw_with_mouse(page, ONE)
    expect(page.locator("#digit")).to_have_text("1")
    expect(page.locator("#confidence")).to_have_text(re.compile(r"^\d{1,3}%$"))

    switch_to_number(page)  # and back: nothing is left of either drawing
    expect(page.locator("#number")).to_have_text("")
    expect(page.locator("#undo")).to_be_disabled()


def test_the_answer_to_a_drawing_from_the_other_mode_is_never_shown(page):
    held = []
    page.route("**/api/read", lambda route: held.append(route))
    page.goto("/")
    switch_to_number(page)
    draw_with_mouse(page, ONE_ZERO_ONE)
    page.wait_for_timeout(400)
    assert held, "the reading should have been asked for"

    page.get_by_role("radio", name="Digit").check()
    page.unroute("**/api/read")
    try:
        held[0].continue_()  # the number's answer arrives after the switch
    except Exception:  # the page already gave up on it: just as good
        pass
    page.wait_for_timeout(500)
    expect(page.locator("#digit")).to_have_text("")
    expect(page.locator("#number")).to_have_text("")


@pytest.mark.parametrize("width", [1280, PHONE["width"]])
def test_number_mode_fits_the_screen(page, problems, shots, width):
    page.set_viewport_size({"width": width, "height": 900 if width > 400 else PHONE["height"]})
    page.goto("/")
    switch_to_number(page)
    page.screenshot(path=shots / f"number-empty-{width}.png", full_page=True)
    draw_with_mouse(page, ONE_ZERO_ONE)
    expect(page.locator("#number")).to_have_text("101")
    page.wait_for_timeout(200)  # the outlines fade in
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    page.screenshot(path=shots / f"number-{width}.png", full_page=True)
    assert problems == []
