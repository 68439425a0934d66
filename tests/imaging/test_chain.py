"""Each step of the image chain, on small synthetic images."""

import base64
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from sklearn.base import clone
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from app.errors import DigitReaderError, EmptyImage, ImageTooLarge, InvalidImage
from app.imaging.chain import ImageChain
from app.imaging.decode import decode_base64_image, open_image
from app.imaging.ink import (
    INK_OF_ALPHA,
    INK_OF_DARKNESS,
    WORKING_SIDE,
    crop_to_ink,
    cropped_ink,
    flatten_onto_white,
    ink_from_image,
    invert,
    reduce_large,
    remove_background,
    to_greyscale,
)
from app.imaging.shape import (
    centre,
    count_blocks,
    deskew,
    dilate,
    fit_into_box,
    ink_depth,
    measure_slant,
    normalise_stroke,
    to_bitmap,
)
from bench.canvas_body import canvas_png
from bench.chain_speed import (
    straight_deskew,
    straight_features,
    straight_ink,
    straight_open_image,
    straight_remove_background,
)
from bench.renders import photo_jpeg
from conftest import ONE, SEVEN, ZERO, canvas_drawing, encode, on_paper

PNG = encode(canvas_drawing(ONE))


# -- decode ---------------------------------------------------------------------


def test_a_data_uri_decodes_to_the_image_bytes():
    uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert decode_base64_image(uri) == PNG


def test_bare_base64_decodes_to_the_image_bytes():
    assert decode_base64_image(base64.b64encode(PNG).decode()) == PNG


def test_url_safe_unpadded_base64_with_line_breaks_decodes_too():
    text = base64.urlsafe_b64encode(PNG).decode().rstrip("=")
    wrapped = "\n".join(text[i:i + 76] for i in range(0, len(text), 76))
    assert decode_base64_image(wrapped) == PNG


@pytest.mark.parametrize("text", ["", "   ", "not base64!", "data:image/png,rawtext", "====",
                                  "data:image/png;base64,"])
def test_text_that_is_not_base64_is_an_invalid_image(text):
    with pytest.raises(InvalidImage):
        decode_base64_image(text)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "BMP"])
def test_every_accepted_format_opens(fmt):
    image = on_paper(canvas_drawing(ONE))
    opened = open_image(encode(image, fmt), max_pixels=10**6)
    assert opened.size == image.size


@pytest.mark.parametrize("data", [b"", b"hello", b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_bytes_that_are_no_image_are_an_invalid_image(data):
    with pytest.raises(InvalidImage):
        open_image(data, max_pixels=10**6)


def test_a_format_outside_the_accepted_ones_is_an_invalid_image():
    with pytest.raises(InvalidImage):
        open_image(encode(Image.new("RGB", (8, 8)), "TIFF"), max_pixels=10**6)


def test_a_truncated_png_is_an_invalid_image():
    with pytest.raises(InvalidImage):
        open_image(PNG[: len(PNG) // 2], max_pixels=10**6)


def test_too_many_pixels_is_refused_from_the_header():
    data = encode(Image.new("L", (2000, 1000), 255))
    with pytest.raises(ImageTooLarge, match="2,000,000 pixels"):
        open_image(data, max_pixels=1_999_999)


def test_the_first_frame_of_an_animation_is_read():
    first = on_paper(canvas_drawing(ONE)).convert("P")
    second = on_paper(canvas_drawing(ZERO)).convert("P")
    data = encode(first, "GIF", save_all=True, append_images=[second])
    opened = open_image(data, max_pixels=10**6)
    assert np.array_equal(np.asarray(opened.convert("L")), np.asarray(first.convert("L")))


def test_exif_orientation_is_applied():
    wide = Image.new("L", (40, 20), 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: the upright picture is 20 wide, 40 high
    opened = open_image(encode(wide, "JPEG", exif=exif), max_pixels=10**6)
    assert opened.size == (20, 40)


# -- from a picture to ink --------------------------------------------------------


def test_transparency_is_flattened_onto_white():
    image = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    image.putpixel((1, 1), (0, 0, 0, 255))
    flat = np.asarray(flatten_onto_white(image))
    assert flat.shape == (4, 4, 3)
    assert (flat[0, 0] == 255).all() and (flat[1, 1] == 0).all()


def test_greyscale_is_lightness_from_zero_to_one():
    image = Image.new("RGB", (2, 1))
    image.putpixel((0, 0), (255, 255, 255))
    grey = to_greyscale(image)
    assert grey.dtype == np.float32
    assert grey[0, 0] == pytest.approx(1.0) and grey[0, 1] == pytest.approx(0.0)


def test_sixteen_bit_greyscale_is_scaled_to_zero_to_one():
    image = Image.fromarray(np.array([[0, 65535]], dtype=np.uint16))
    assert to_greyscale(flatten_onto_white(image)).tolist() == [[0.0, 1.0]]


def test_invert_makes_ink_high():
    assert invert(np.array([[1.0, 0.25]])).tolist() == [[0.0, 0.75]]


def test_background_removal_stretches_paper_to_zero_and_ink_to_one():
    ink = np.full((10, 10), 0.1, dtype=np.float32)
    ink[4:6, 2:8] = 0.7
    cleaned = remove_background(ink)
    assert cleaned.min() == 0.0 and cleaned.max() == 1.0
    assert cleaned[0, 0] == 0.0


def test_an_image_with_no_contrast_is_empty():
    with pytest.raises(EmptyImage):
        remove_background(np.full((10, 10), 0.3, dtype=np.float32))


def test_crop_keeps_only_the_rectangle_around_the_ink():
    ink = np.zeros((20, 30), dtype=np.float32)
    ink[5:9, 10:25] = 1.0
    assert crop_to_ink(ink).shape == (4, 15)


def test_a_speck_of_ink_is_an_empty_image():
    ink = np.zeros((280, 280), dtype=np.float32)
    ink[100, 100] = 1.0
    with pytest.raises(EmptyImage):
        crop_to_ink(ink)


def test_scaling_fits_the_longer_side_and_keeps_the_aspect_ratio():
    tall = np.ones((100, 40), dtype=np.float32)
    assert fit_into_box(tall, 32).shape == (32, 13)
    wide = np.ones((10, 200), dtype=np.float32)
    assert fit_into_box(wide, 32).shape == (2, 32)


def test_centring_puts_the_ink_in_the_middle_of_the_square():
    square = centre(np.ones((32, 12), dtype=np.float32), 32)
    columns = np.flatnonzero(square.any(axis=0))
    assert square.shape == (32, 32)
    assert columns[0] == 10 and columns[-1] == 21


def test_centring_follows_the_centre_of_mass_not_the_bounding_box():
    ink = np.zeros((32, 16), dtype=np.float32)
    ink[:, :4] = 1.0  # a heavy stem on the left
    ink[0, 4:] = 1.0  # and a thin flag to the right
    square = centre(ink, 32)
    stem = np.flatnonzero(square[16])
    assert abs(stem.mean() - 15.5) < 2  # the stem, not the box, sits in the middle


def test_slant_is_measured_from_the_moments_with_its_sign():
    forward = np.zeros((40, 40), dtype=np.float32)
    for row in range(40):
        forward[row, 30 - row // 2] = 1.0  # leans like "/": moves left going down
    assert measure_slant(forward) == pytest.approx(-0.5, abs=0.05)
    assert measure_slant(forward[:, ::-1]) == pytest.approx(0.5, abs=0.05)
    upright = np.zeros((40, 40), dtype=np.float32)
    upright[:, 20] = 1.0
    assert measure_slant(upright) == 0.0


def test_deskew_stands_a_slanted_stroke_upright():
    leaning = np.zeros((40, 40), dtype=np.float32)
    for row in range(40):
        leaning[row, 30 - row // 2] = 1.0
    upright = deskew(leaning, measure_slant(leaning))
    assert abs(measure_slant(upright)) < 0.05
    assert upright.sum() == pytest.approx(leaning.sum(), rel=0.05)  # nothing is cut off


def test_the_box_is_filled_in_height_with_the_width_clamped():
    thin = np.ones((100, 10), dtype=np.float32)
    wide = np.ones((100, 100), dtype=np.float32)
    assert fit_into_box(thin, 32, 0.6, 0.66).shape == (32, 19)
    assert fit_into_box(wide, 32, 0.6, 0.66).shape == (32, 21)


def test_bitmap_is_ink_above_the_threshold():
    assert to_bitmap(np.array([[0.2, 0.8]]), 0.5).tolist() == [[False, True]]


def test_thin_strokes_are_thickened_and_thick_ones_kept():
    thin = np.zeros((32, 32), dtype=bool)
    thin[4:28, 15] = True
    thick = np.zeros((32, 32), dtype=bool)
    thick[4:28, 13:19] = True
    assert normalise_stroke(thin, 4.0).sum() > 2 * thin.sum()
    assert np.array_equal(normalise_stroke(thick, 4.0), thick)


def test_blocks_count_ink_four_by_four_into_eight_by_eight():
    bitmap = np.zeros((32, 32), dtype=bool)
    bitmap[:4, :4] = True  # a full block
    bitmap[4, 4] = True  # one pixel of the next diagonal block
    counts = count_blocks(bitmap)
    assert counts.shape == (8, 8)
    assert counts[0, 0] == 16 and counts[1, 1] == 1 and counts.sum() == 17


# -- the whole chain ------------------------------------------------------------


def test_the_chain_gives_sixty_four_features_from_zero_to_sixteen():
    features = ImageChain().transform([PNG, canvas_drawing(SEVEN)])
    assert features.shape == (2, 64)
    assert features.min() >= 0 and features.max() <= 16


def test_the_bitmap_fills_the_box_height_like_the_optdigits_bitmaps():
    bitmap = ImageChain().to_bitmap(canvas_drawing(ZERO, width=10))
    rows = np.flatnonzero(bitmap.any(axis=1))
    assert rows[0] == 0 and rows[-1] == 31


def test_a_drawing_reads_the_same_as_a_photo_of_it():
    chain = ImageChain()
    drawing = canvas_drawing(SEVEN)
    photo = encode(on_paper(drawing), "JPEG", quality=90)
    difference = np.abs(chain.to_feature_vector(drawing) - chain.to_feature_vector(photo))
    assert difference.mean() < 1.0


def test_a_blank_canvas_is_an_empty_image_not_a_zero():
    with pytest.raises(EmptyImage):
        ImageChain().to_feature_vector(encode(canvas_drawing([])))


def test_a_blank_white_photo_is_an_empty_image():
    with pytest.raises(EmptyImage):
        ImageChain().to_feature_vector(encode(Image.new("RGB", (50, 50), "white")))


def test_ink_arrays_such_as_dataset_digits_go_through_the_chain():
    ink = np.zeros((28, 28), dtype=np.uint8)
    ink[4:24, 12:16] = 255
    assert ImageChain().to_feature_vector(ink).shape == (64,)


def test_a_large_picture_is_reduced_before_the_chain_and_reads_the_same():
    small = on_paper(canvas_drawing(SEVEN, size=400, width=32))
    large = small.resize((4000, 4000), Image.Resampling.NEAREST)
    assert max(reduce_large(large).size) <= WORKING_SIDE
    chain = ImageChain(max_pixels=20_000_000)
    difference = chain.to_feature_vector(large) - chain.to_feature_vector(small)
    assert np.abs(difference).mean() < 1.0


# -- the fast route reads as the straightforward one -----------------------------


def drawn(index):
    """The ``index``-th canvas drawing: a digit, each a little different."""
    image = Image.open(io.BytesIO(canvas_png(index % 10, jitter=0.08, seed=index)))
    image.load()
    return image


def on_white(image):
    return Image.alpha_composite(Image.new("RGBA", image.size, (255,) * 4), image)


def translucent(image, index):
    """The drawing in a colour, fainter and fainter."""
    colour = Image.new("RGBA", image.size, (40 * (index % 5), 90, 160 - 30 * (index % 4), 0))
    colour.putalpha(image.getchannel("A").point(lambda alpha: alpha * (index % 4 + 1) // 4))
    return colour


def keyed(image):
    """Dark red ink on a black ground that is marked transparent (a colour key)."""
    picture = Image.new("RGB", image.size)
    picture.paste((90, 20, 20), mask=image.getchannel("A"))
    return encode(picture, transparency=(0, 0, 0))


PICTURES = {
    "canvas PNG": lambda i: canvas_png(i % 10, jitter=0.08, seed=i),
    "white-fill canvas PNG": lambda i: encode(on_white(drawn(i))),
    "white RGB PNG": lambda i: encode(on_white(drawn(i)).convert("RGB")),
    "greyscale PNG": lambda i: encode(on_white(drawn(i)).convert("L")),
    "photo JPEG": lambda i: photo_jpeg(np.asarray(drawn(i).getchannel("A")), seed=i),
    "greyscale photo JPEG": lambda i: encode(
        Image.open(io.BytesIO(photo_jpeg(np.asarray(drawn(i).getchannel("A")), seed=i)))
        .convert("L"), "JPEG", quality=60 + i),
    "LA PNG": lambda i: encode(drawn(i).convert("LA")),
    "palette PNG": lambda i: encode(on_white(drawn(i)).convert("P")),
    "GIF with a transparent index": lambda i: encode(drawn(i), "GIF"),
    "1-bit PNG": lambda i: encode(on_white(drawn(i)).convert("1")),
    "16-bit PNG": lambda i: encode(Image.fromarray(
        np.asarray(on_white(drawn(i)).convert("L")).astype(np.uint16) * 257)),
    "translucent coloured ink": lambda i: encode(translucent(drawn(i), i)),
    "colour-keyed RGB PNG": lambda i: keyed(drawn(i)),
    "WebP": lambda i: encode(on_white(drawn(i)), "WEBP"),
    "CMYK JPEG": lambda i: encode(on_white(drawn(i)).convert("CMYK"), "JPEG"),
}


def outcome(function, *args):
    """What ``function(*args)`` gives: its result, or the type of error it raises."""
    try:
        return function(*args)
    except DigitReaderError as error:
        return type(error)


def same(expected, found):
    if isinstance(expected, type) or isinstance(found, type):
        return expected is found
    return expected.dtype == found.dtype and np.array_equal(expected, found)


def read_straight(data, chain):
    return straight_features(straight_open_image(data, chain.max_pixels), chain)


def read_fast(data, chain):
    return chain.to_feature_vector(open_image(data, chain.max_pixels))


def crop_straight(ink):
    return crop_to_ink(straight_remove_background(ink))


@pytest.mark.parametrize("kind", PICTURES)
def test_the_chain_reads_every_kind_of_picture_as_the_straightforward_route(kind):
    chain = ImageChain()
    for index in range(24):
        data = PICTURES[kind](index)
        assert same(outcome(read_straight, data, chain), outcome(read_fast, data, chain)), index


@pytest.mark.parametrize("kind", PICTURES)
def test_the_cropped_ink_is_the_straightforward_route_s_to_the_last_bit(kind):
    for index in range(0, 24, 3):
        image = open_image(PICTURES[kind](index), 10**7)
        ink = straight_ink(image)
        assert same(ink, ink_from_image(image))
        assert same(outcome(crop_straight, ink), outcome(cropped_ink, image)), index


@pytest.mark.parametrize("picture", [
    Image.new("RGBA", (280, 280)),  # transparent all over
    Image.new("RGBA", (280, 280), (0, 0, 0, 20)),  # too faint to be a digit
    Image.new("RGB", (280, 280), (90, 90, 90)),  # no contrast
    Image.new("L", (280, 280), 255).resize((1500, 1500)),  # large, blank
])
def test_a_picture_without_ink_is_empty_by_either_route(picture):
    chain = ImageChain()
    with pytest.raises(EmptyImage):
        chain.to_feature_vector(picture)
    with pytest.raises(EmptyImage):
        straight_features(picture, chain)


def test_a_large_picture_reads_as_by_the_straightforward_route():
    chain = ImageChain(max_pixels=20_000_000)
    for index in range(3):
        picture = on_white(drawn(index)).convert("RGB").resize((1500 + 700 * index, 1100))
        assert same(straight_features(picture, chain), chain.to_feature_vector(picture))


def test_ink_grows_with_the_level_from_nothing():
    for ink_of_level in (INK_OF_ALPHA, INK_OF_DARKNESS):
        assert ink_of_level[0] == 0.0 and ink_of_level[255] == 1.0
        assert (np.diff(ink_of_level) > 0).all()


def test_the_paper_level_is_np_percentile_s_to_the_last_bit():
    rng = np.random.default_rng(0)
    for index in range(4000):
        shape = tuple(rng.integers(1, 400 if index % 10 == 0 else 40, 2))
        ink = rng.random(shape).astype(np.float32 if index % 3 else np.float64)
        if index % 2:
            ink[rng.random(shape) < rng.random()] = rng.choice([0.0, 0.2])  # ties
        expected = outcome(straight_remove_background, ink)
        assert same(expected, outcome(remove_background, ink)), index


def test_the_shear_is_ndimage_s_to_the_last_bit():
    rng = np.random.default_rng(0)
    for index in range(3000):
        ink = rng.random(tuple(rng.integers(1, 70, 2))).astype(np.float32)
        ink[rng.random(ink.shape) < 0.4] = 0.0
        slant = float(rng.uniform(-1, 1)) if index % 4 else float(rng.choice([-1, -0.5, 1]))
        assert same(straight_deskew(ink, slant), deskew(ink, slant)), index


def test_dilation_is_ndimage_s():
    rng = np.random.default_rng(0)
    for index in range(500):
        bitmap = rng.random(tuple(rng.integers(1, 40, 2))) < rng.random() / 4
        steps = index % 3 + 1
        assert np.array_equal(ndimage.binary_dilation(bitmap, iterations=steps),
                              dilate(bitmap, steps))


def bit_for_bit(expected, found):
    return (expected.shape == found.shape and expected.dtype == found.dtype
            and expected.tobytes() == found.tobytes())


def inked(shape, *where):
    """A bitmap of ``shape``, paper but at ``where`` (index expressions)."""
    bitmap = np.zeros(shape, dtype=bool)
    for index in where:
        bitmap[index] = True
    return bitmap


EDGE_BITMAPS = {
    "one ink pixel": np.ones((1, 1), dtype=bool),
    "one paper pixel": np.zeros((1, 1), dtype=bool),
    "ink all over, square": np.ones((6, 6), dtype=bool),
    "ink all over, wide": np.ones((3, 8), dtype=bool),
    "ink all over, tall": np.ones((8, 3), dtype=bool),
    "ink all over, one row": np.ones((1, 7), dtype=bool),
    "ink all over, one column": np.ones((7, 1), dtype=bool),
    "paper all over": np.zeros((4, 6), dtype=bool),
    "a column of ink alone": inked((6, 5), np.s_[:, 2]),
    "a row of ink alone": inked((5, 6), np.s_[2, :]),
    "a cross of ink": inked((7, 9), np.s_[3, :], np.s_[:, 4]),
    "one paper pixel in a corner": ~inked((9, 4), np.s_[0, 0]),
    "one paper pixel at the far end": ~inked((4, 9), np.s_[3, 8]),
    "one row of paper and ink": np.array([[True, False, True, True, True]]),
    "no rows": np.zeros((0, 3), dtype=bool),
    "no columns": np.zeros((3, 0), dtype=bool),
}


@pytest.mark.parametrize("name", EDGE_BITMAPS)
def test_the_ink_depth_is_ndimage_s_to_the_last_bit_at_the_edges(name):
    bitmap = EDGE_BITMAPS[name]
    assert bit_for_bit(ndimage.distance_transform_edt(bitmap), ink_depth(bitmap))


def test_the_ink_depth_is_ndimage_s_to_the_last_bit():
    rng = np.random.default_rng(0)
    for index in range(5000):
        shape = tuple(rng.integers(1, 120 if index % 20 == 0 else 40, 2))
        # from no ink to ink all over, often so much that whole columns hold no paper
        density = 1 - rng.random() ** 4 if index % 3 == 0 else rng.random()
        bitmap = rng.random(shape) < density
        if index % 7 == 0:
            bitmap = bitmap.T  # not C-contiguous
        expected = ndimage.distance_transform_edt(bitmap)
        assert bit_for_bit(expected, ink_depth(bitmap)), (index, shape, density)


def test_the_stroke_of_every_drawn_digit_is_measured_as_by_ndimage():
    chain = ImageChain(stroke_width=0.0)  # the bitmap before any thickening
    for index in range(30):
        bitmap = chain.to_bitmap(drawn(index))
        assert bit_for_bit(ndimage.distance_transform_edt(bitmap), ink_depth(bitmap))


# -- a scikit-learn transformer without scikit-learn -----------------------------


@pytest.mark.filterwarnings("error")
def test_the_chain_is_a_transformer_that_a_scikit_learn_pipeline_clones_and_sets():
    pipeline = Pipeline([("chain", ImageChain()), ("knn", KNeighborsClassifier(1))])
    images = [canvas_drawing(strokes) for strokes in (ONE, SEVEN, ZERO)]
    fitted = clone(pipeline).set_params(chain__upright=False, chain__max_pixels=10**6)
    fitted.fit(images, [1, 7, 0])
    assert fitted.predict(images).tolist() == [1, 7, 0]
    assert repr(fitted.named_steps["chain"]) == "ImageChain(max_pixels=1000000, upright=False)"
    assert repr(pipeline.named_steps["chain"]) == "ImageChain()"  # the clone is its own
    chain_alone = fitted[:1]  # a pipeline of the chain alone: fitted, though it learnt nothing
    assert np.array_equal(chain_alone.transform(images),
                          ImageChain(upright=False).fit_transform(images))


def test_the_chain_s_parameters_are_those_of_its_init():
    chain = ImageChain(max_pixels=1, min_aspect=None)
    assert chain.get_params() == {"ink_threshold": 0.35, "max_aspect": 0.66, "max_pixels": 1,
                                  "min_aspect": None, "stroke_width": 4.0, "upright": True}
    assert chain.set_params(ink_threshold=0.5) is chain and chain.ink_threshold == 0.5
    assert repr(chain) == "ImageChain(ink_threshold=0.5, max_pixels=1, min_aspect=None)"


def test_an_unknown_chain_parameter_is_refused_and_nothing_is_changed():
    chain = ImageChain()
    with pytest.raises(ValueError, match="Invalid parameter 'colour'"):
        chain.set_params(upright=False, colour="red")
    assert chain.upright is True


def test_reading_a_digit_imports_neither_scikit_learn_nor_scipy():
    code = "\n".join([
        "import sys",
        "from PIL import Image, ImageDraw",
        "import app.recognition.confidence, app.imaging.segmentation",
        "from app.imaging.chain import ImageChain",
        "image = Image.new('L', (60, 80), 255)",
        "ImageDraw.Draw(image).line([(30, 5), (30, 75)], fill=0, width=2)",
        "ImageChain().transform([image])",
        "print(sorted({name.split('.')[0] for name in sys.modules} & {'sklearn', 'scipy'}))",
    ])
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent, check=True)
    assert ran.stdout.strip() == "[]"
