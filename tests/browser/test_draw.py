"""The draw page in a real browser: draw with a mouse or a finger, see the
digit read as you draw, undo, clear and correct."""

import re

import pytest
from playwright.sync_api import expect

from conftest import ONE, ZERO

from .conftest import PHONE, SHOTS
from .pointer import FOUR, SEVEN, draw_with_mouse, draw_with_touch


def draw_and_settle(page, strokes, digit):
    """Draw, see ``digit`` read, and let the reading of the finished drawing
    come in: one may still be on its way when an earlier one is shown, and a
    label goes to the reading shown."""
    draw_with_mouse(page, strokes)
    expect(page.locator("#digit")).to_have_text(digit)
    page.wait_for_timeout(800)  # longer than the reading delay and the answer
    expect(page.locator("#digit")).to_have_text(digit)


@pytest.mark.parametrize(("strokes", "digit"), [(ONE, "1"), (SEVEN, "7"), (ZERO, "0"),
                                                (FOUR, "4")])
def test_a_digit_drawn_with_the_mouse_is_read_as_it_is_drawn(page, strokes, digit):
    page.goto("/")
    draw_with_mouse(page, strokes)
    expect(page.locator("#digit")).to_have_text(digit)
    expect(page.locator("#confidence")).to_have_text(re.compile(r"^\d{1,3}%$"))
    best = page.locator("#probabilities li.best")
    expect(best).to_have_count(1)
    expect(best.locator(".p-digit")).to_have_text(digit)


def test_drawing_with_a_finger_draws_and_does_not_scroll_the_page(browser, browser_context_args):
    context = browser.new_context(**{**browser_context_args, "viewport": PHONE},
                                  has_touch=True, is_mobile=True)
    page = context.new_page()
    page.goto("/")
    page.evaluate("""() => {
        window.pointerTypes = new Set();
        document.getElementById("pad").addEventListener(
            "pointerdown", (event) => window.pointerTypes.add(event.pointerType));
    }""")
    assert page.evaluate("document.documentElement.scrollHeight > innerHeight"), \
        "the page must be taller than the phone's screen for this test to mean anything"

    upward_one = [[(0.5, 0.85), (0.5, 0.15)]]  # a finger moving up would scroll the page down
    draw_with_touch(page, upward_one)

    expect(page.locator("#digit")).to_have_text("1")
    assert page.evaluate("[...window.pointerTypes]") == ["touch"]
    assert page.evaluate("window.scrollY") == 0
    context.close()


def test_a_blank_pad_shows_no_answer_and_asks_nothing(page):
    predictions = []
    page.on("request", lambda request: "/api/predict" in request.url and predictions.append(1))
    page.goto("/")
    page.wait_for_timeout(500)
    expect(page.locator("#digit")).to_have_text("")
    expect(page.locator("#confidence")).to_have_text("")
    expect(page.locator("#correction")).to_be_hidden()
    assert predictions == []


def test_clear_empties_the_pad_and_the_answer_for_good(page):
    page.goto("/")
    draw_with_mouse(page, SEVEN)
    page.locator("#clear").click()  # before the answer to the drawing can come
    page.wait_for_timeout(800)  # longer than the reading delay and the answer

    expect(page.locator("#digit")).to_have_text("")
    expect(page.locator("#confidence")).to_have_text("")
    expect(page.locator("#probabilities .p-value").first).to_have_text("")
    assert page.evaluate("""() => {
        const pad = document.getElementById("pad");
        const pixels = pad.getContext("2d").getImageData(0, 0, pad.width, pad.height).data;
        return pixels.every((value) => value === 0);
    }""")


def test_undo_takes_back_the_last_stroke(page):
    page.goto("/")
    pad_image = "document.getElementById('pad').toDataURL()"
    draw_with_mouse(page, ONE)
    expect(page.locator("#digit")).to_have_text("1")
    only_the_one = page.evaluate(pad_image)

    draw_with_mouse(page, ZERO)
    assert page.evaluate(pad_image) != only_the_one
    with page.expect_response("**/api/predict?explain=1"):
        page.locator("#undo").click()
    assert page.evaluate(pad_image) == only_the_one
    expect(page.locator("#digit")).to_have_text("1")

    page.keyboard.press("Control+z")
    expect(page.locator("#digit")).to_have_text("")
    expect(page.locator("#undo")).to_be_disabled()


def test_only_the_answer_to_the_latest_drawing_is_shown(page):
    held = []

    def hold_the_first_reading(route):
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route("**/api/predict?explain=1", hold_the_first_reading)
    page.goto("/")
    draw_with_mouse(page, ONE)
    page.wait_for_timeout(400)
    assert held, "the first reading should have been asked for"

    page.locator("#clear").click()
    draw_with_mouse(page, ZERO)
    expect(page.locator("#digit")).to_have_text("0")

    try:
        held[0].continue_()  # the answer to the first drawing ("1") arrives late
    except Exception:  # the page already gave up on it: just as good
        pass
    page.wait_for_timeout(500)
    expect(page.locator("#digit")).to_have_text("0")


def test_no_label_can_be_given_to_the_answer_of_an_older_drawing(page):
    page.goto("/")
    draw_with_mouse(page, ONE)
    expect(page.locator("#digit")).to_have_text("1")
    right = page.get_by_role("button", name="Right")
    expect(right).to_be_enabled()

    held = []
    page.route("**/api/predict?explain=1", lambda route: held.append(route))
    draw_with_mouse(page, [[(0.3, 0.85), (0.7, 0.85)]])  # a foot: another drawing
    expect(right).to_be_disabled()
    expect(page.get_by_role("button", name="It was 7")).to_be_disabled()

    page.unroute("**/api/predict?explain=1")
    for route in held:
        try:
            route.continue_()
        except Exception:  # a reading the page gave up on for a newer one
            pass
    expect(right).to_be_enabled()


def test_a_correction_is_stored_and_shown_on_the_history_page(page):
    page.goto("/")
    draw_and_settle(page, ONE, "1")

    seven = page.get_by_role("button", name="It was 7")
    seven.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#correction-status")).to_contain_text("Saved as 7")
    expect(seven).to_have_attribute("aria-pressed", "true")

    page.get_by_role("link", name="History").click()
    newest = page.locator(".history-item").first
    expect(newest.locator(".history-digit")).to_have_text("1")
    expect(newest.locator(".state")).to_have_text("Corrected to 7")


def test_a_right_answer_is_confirmed_and_shown_on_the_history_page(page):
    page.goto("/")
    draw_and_settle(page, ONE, "1")

    right = page.get_by_role("button", name="Right")
    right.click()
    expect(page.locator("#correction-status")).to_contain_text("Confirmed as 1")
    expect(right).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="It was 1")).to_have_attribute("aria-pressed", "false")

    page.get_by_role("link", name="History").click()
    newest = page.locator(".history-item").first
    expect(newest.locator(".state")).to_have_text("Confirmed as 1")



def test_the_samples_that_voted_are_shown_under_the_answer(page):
    page.goto("/")
    draw_with_mouse(page, SEVEN)
    expect(page.locator("#digit")).to_have_text("7")
    neighbours = page.locator("#neighbours li")
    expect(neighbours).to_have_count(5)
    expect(neighbours.first.locator(".n-digit")).to_have_text("7")
    assert page.evaluate("""() => [...document.querySelectorAll("#neighbours img")]
        .every((img) => img.complete && img.naturalWidth === 32)""")


def test_a_correction_is_learned_and_shown_when_the_same_drawing_is_read_again(page):
    page.goto("/")
    draw_and_settle(page, ONE, "1")
    page.get_by_role("button", name="It was 7").click()
    expect(page.locator("#correction-status")).to_contain_text("The model learns from it now")

    page.locator("#clear").click()
    draw_with_mouse(page, ONE)
    expect(page.locator("#digit")).to_have_text("7")
    nearest = page.locator("#neighbours li").first
    expect(nearest).to_have_attribute("data-source", "label")
    expect(nearest.locator(".n-source")).to_have_text("a person’s label")
    page.screenshot(path=SHOTS / "learned-label.png", full_page=True)

    page.get_by_role("link", name="Model").click()
    expect(page.locator("#labels-learned")).to_have_text("1")
    expect(page.locator("#in-use-figures")).to_contain_text("of the last 1 labelled")
