"""The upload page in a real browser: choose or drop a photo, see it and what
the model sees of it, and read it; with and without JavaScript."""

import base64
import re

from playwright.sync_api import expect

from conftest import ONE, ZERO, canvas_drawing, encode, on_paper

from .pointer import FOUR, SEVEN


def image_file(name, strokes, fmt, mime):
    photo = on_paper(canvas_drawing(strokes))
    return {"name": name, "mimeType": mime, "buffer": encode(photo, fmt)}


def expect_picture_loaded(image):
    expect(image).to_be_visible()
    image.page.wait_for_function("(image) => image.complete && image.naturalWidth > 0",
                                 arg=image.element_handle())


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
