"""The upload page in a real browser: choose or drop a photo, see it and what
the model sees of it, and read it; in number mode, each digit boxed on the
photo; with and without JavaScript."""

import base64
import re

import pytest
from playwright.sync_api import expect

from conftest import NUMBER_101, ONE, ZERO, canvas_drawing, encode, on_paper

from .conftest import PHONE
from .pointer import FOUR, SEVEN

# Where the middle of each digit of NUMBER_101 is, as shares of the photo.
NUMBER_101_MIDDLES = [(0.12, 0.45), (0.36, 0.5), (0.72, 0.53)]


def image_file(name, strokes, fmt, mime):
    photo = on_paper(canvas_drawing(strokes))
    return {"name": name, "mimeType": mime, "buffer": encode(photo, fmt)}


def number_photo(width, height, fmt="PNG"):
    """NUMBER_101 written on paper, photographed at ``width`` x ``height``."""
    drawing = canvas_drawing(NUMBER_101, size=width, width=max(8, width // 22))
    mime = "image/jpeg" if fmt == "JPEG" else "image/png"
    return {"name": f"number.{fmt.lower()}", "mimeType": mime,
            "buffer": encode(on_paper(drawing.resize((width, height))), fmt)}


def switch_to_number(page):
    page.get_by_role("radio", name="Number").check()
    expect(page.locator("#upload-page")).to_have_attribute("data-mode", "number")


def expect_boxed_digits(page, digits):
    """One box per digit on the photo, each labelled with the digit read and
    around where that digit is on the photo."""
    marks = page.locator("#digit-boxes .picture-mark")
    expect(marks).to_have_count(len(digits))
    expect(page.locator("#digit-boxes rect.picture-box")).to_have_count(len(digits))
    expect(marks.locator("text")).to_have_text(digits)
    photo = page.locator("#preview").bounding_box()
    for index, (across, down) in enumerate(NUMBER_101_MIDDLES):
        box = marks.nth(index).locator("rect").bounding_box()
        x, y = photo["x"] + across * photo["width"], photo["y"] + down * photo["height"]
        assert box["x"] < x < box["x"] + box["width"], f"digit {index} is not boxed across"
        assert box["y"] < y < box["y"] + box["height"], f"digit {index} is not boxed down"


def expect_picture_loaded(image):
    # Asked by Playwright's expect, again and again from outside the page, not
    # by wait_for_function, which polls inside it: on a page with JavaScript off
    # nothing runs there after the first look, so a picture still loading then
    # was never seen to load (a CI failure, reproduced with a slow picture).
    expect(image).to_be_visible()
    expect(image).to_have_js_property("complete", True, timeout=15_000)
    expect(image).not_to_have_js_property("naturalWidth", 0)


def test_a_png_photo_is_previewed_and_read(page):
    page.goto("/upload")
    page.locator("input[type=file]#image").set_input_files(
        image_file("seven.png", SEVEN, "PNG", "image/png"))

    expect(page.locator("#digit")).to_have_text("7")
    expect(page.locator("#probabilities li.best .p-digit")).to_have_text("7")
    expect(page.locator("#neighbours li")).to_have_count(5)
    expect_picture_loaded(page.locator("#preview"))
    expect_picture_loaded(page.locator("#model-input"))
    expect(page.locator("#file-name")).to_have_text("seven.png")


def test_a_jpeg_photo_is_read(page):
    page.goto("/upload")
    page.locator("#image").set_input_files(image_file("zero.jpg", ZERO, "JPEG", "image/jpeg"))
    expect(page.locator("#digit")).to_have_text("0")
    expect(page.locator("#confidence")).not_to_have_text("")


def test_a_dropped_image_is_read(page):
    page.goto("/upload")
    png = base64.b64encode(encode(on_paper(canvas_drawing(ONE)), "PNG")).decode()
    page.locator("#dropzone").evaluate("""(zone, png) => {
        const bytes = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
        const files = new DataTransfer();
        files.items.add(new File([bytes], "one.png", { type: "image/png" }));
        zone.dispatchEvent(new DragEvent("drop", { dataTransfer: files, cancelable: true }));
    }""", png)
    expect(page.locator("#digit")).to_have_text("1")
    expect(page.locator("#file-name")).to_have_text("one.png")


def test_an_unsupported_file_is_refused_with_a_clear_message(page):
    page.goto("/upload")
    page.locator("#image").set_input_files(
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"seven"})
    expect(page.locator("#message")).to_have_text(
        "That file type is not supported: use PNG, JPEG, GIF, WebP or BMP.")
    expect(page.locator("#digit")).to_have_text("")


def test_a_file_that_is_not_really_an_image_gets_a_clear_message(page):
    page.goto("/upload")
    page.locator("#image").set_input_files(
        {"name": "fake.png", "mimeType": "image/png", "buffer": b"not a picture at all"})
    expect(page.locator("#message")).to_have_text(
        "That file is not an image we can read: use PNG, JPEG, GIF, WebP or BMP.")
    expect(page.locator("#digit")).to_have_text("")


def test_a_file_too_large_is_refused_with_the_limit(page):
    page.goto("/upload")
    page.locator("#image").set_input_files(
        {"name": "huge.png", "mimeType": "image/png", "buffer": b"\0" * (2 * 2**20 + 1)})
    expect(page.locator("#message")).to_have_text("That file is too large: the limit is 2 MiB.")
    expect(page.locator("#digit")).to_have_text("")


def test_upload_and_correction_work_without_javascript(browser, browser_context_args):
    context = browser.new_context(**browser_context_args, java_script_enabled=False)
    page = context.new_page()
    page.goto("/upload")
    page.locator("#image").set_input_files(image_file("four.jpg", FOUR, "JPEG", "image/jpeg"))
    page.get_by_role("button", name="Read it").click()

    expect(page.locator("#digit")).to_have_text("4")
    expect_picture_loaded(page.locator("#model-input"))
    expect(page.locator("#neighbours li")).to_have_count(5)
    expect_picture_loaded(page.locator("#neighbours img").first)

    page.get_by_role("button", name="It was 3").click()
    expect(page).to_have_url(re.compile(r"/history#prediction-\d+$"))
    expect(page.locator(".history-item .state").first).to_have_text("Corrected to 3")
    context.close()


# -- number mode --------------------------------------------------------------


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {**PHONE, "width": 390}],
                         ids=["desktop", "phone"])
def test_a_number_photo_is_read_with_each_digit_boxed(page, problems, shots, viewport):
    page.set_viewport_size(viewport)
    page.goto("/upload")
    page.locator("#image").set_input_files(number_photo(560, 280))
    switch_to_number(page)

    expect(page.locator("#number")).to_have_text("101")
    expect(page.locator("#number-digits .p-digit")).to_have_text(["1", "0", "1"])
    expect_picture_loaded(page.locator("#preview"))
    expect_boxed_digits(page, ["1", "0", "1"])
    expect(page.locator("#answer")).to_be_hidden()
    expect(page.locator("#model-input")).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    page.screenshot(path=shots / f"upload-number-{viewport['width']}.png", full_page=True)
    if viewport["width"] == 1280:
        page.screenshot(path=shots / "upload-number.png", full_page=True)
    assert problems == []


@pytest.mark.parametrize(("width", "height", "fmt"), [(3000, 1500, "PNG"), (2592, 1296, "JPEG")])
def test_the_boxes_fit_a_large_photo_read_reduced(page, width, height, fmt):
    # The service reads the PNG at a third of its size and the JPEG at a quarter
    # (decoded at half its size, then halved): its boxes are in those pixels.
    page.goto("/upload")
    switch_to_number(page)
    page.locator("#image").set_input_files(number_photo(width, height, fmt))
    expect(page.locator("#number")).to_have_text("101")
    expect_boxed_digits(page, ["1", "0", "1"])


def test_switching_modes_reads_the_same_photo_again(page):
    page.goto("/upload")
    switch_to_number(page)
    page.locator("#image").set_input_files(image_file("seven.png", SEVEN, "PNG", "image/png"))
    expect(page.locator("#number")).to_have_text("7")
    expect(page.locator("#digit-boxes .picture-box")).to_have_count(1)

    with page.expect_request("**/api/predict?explain=1"):
        page.get_by_role("radio", name="Digit").check()
    expect(page.locator("#digit")).to_have_text("7")
    expect(page.locator("#number-answer")).to_be_hidden()
    expect(page.locator("#digit-boxes .picture-box")).to_have_count(0)
    expect_picture_loaded(page.locator("#model-input"))


def test_a_blank_photo_in_number_mode_says_no_number_was_found(page):
    page.goto("/upload")
    switch_to_number(page)
    blank = {"name": "blank.png", "mimeType": "image/png",
             "buffer": encode(on_paper(canvas_drawing([])))}
    page.locator("#image").set_input_files(blank)
    expect(page.locator("#message")).to_have_text("No number found: the image looks blank.")
    expect(page.locator("#number")).to_have_text("")
    expect(page.locator("#digit-boxes .picture-box")).to_have_count(0)


def test_the_mode_switch_works_from_the_keyboard(page):
    page.goto("/upload")
    page.locator("#mode-digit").focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#mode-number")).to_be_checked()
    expect(page.locator("#upload-page")).to_have_attribute("data-mode", "number")
    expect(page.get_by_role("group", name="What to read")).to_be_visible()


def test_a_number_is_read_and_boxed_without_javascript(browser, browser_context_args, shots):
    context = browser.new_context(**browser_context_args, java_script_enabled=False)
    page = context.new_page()
    page.goto("/upload")
    page.get_by_role("radio", name="Number").check()
    page.locator("#image").set_input_files(number_photo(560, 280))
    page.get_by_role("button", name="Read it").click()

    expect(page.locator("#number")).to_have_text("101")
    expect(page.locator("#mode-number")).to_be_checked()
    expect_picture_loaded(page.locator("#preview"))
    expect_boxed_digits(page, ["1", "0", "1"])
    page.screenshot(path=shots / "upload-number-no-js.png", full_page=True)
    context.close()
