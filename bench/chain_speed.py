"""CPU time per image of decoding and of the image chain: the straightforward
route (the chain as first written) and the chain as it is, side by side.

    python -m bench.chain_speed [--count 20] [--rounds 7]

Kinds of 280x280 picture, drawn here (no dataset needed): a canvas drawing as
the API's clients send it (RGBA PNG, black ink in the alpha channel on a
transparent ground), the draw page's drawing (``canvas.toDataURL`` of black
strokes on a white fill: an opaque RGBA PNG) and a photo of a drawing (RGB
JPEG, and greyscale). Times are CPU milliseconds (``time.process_time``), the
best of several rounds in which both routes take turns: the machine may be
shared. The chain is timed on a picture just decoded, as a request reads it.

The straightforward route is kept here as the reference the chain must match,
feature for feature (tests/imaging/): the whole picture composited onto
white and made floats, ``np.percentile``, and ndimage's shear and dilation.
"""

import argparse
import io
import time

import numpy as np
from PIL import Image, ImageOps
from scipy import ndimage

from app.errors import EmptyImage
from app.imaging.chain import ImageChain
from app.imaging.decode import open_image
from app.imaging.ink import (
    BACKGROUND_SAMPLE,
    MIN_CONTRAST,
    PAPER_PERCENTILE,
    crop_to_ink,
    flatten_onto_white,
    invert,
    reduce_large,
    to_greyscale,
)
from app.imaging.photo import clean_photo
from app.imaging.shape import (
    BOX_SIZE,
    centre,
    count_blocks,
    fit_into_box,
    measure_slant,
    shrink,
    to_bitmap,
)
from bench.canvas_body import canvas_png
from bench.renders import photo_jpeg

# -- the straightforward route ---------------------------------------------------


def straight_open_image(data, max_pixels):
    """open_image as first written: the upright picture a copy of the decoded one."""
    return ImageOps.exif_transpose(open_image(data, max_pixels))


def straight_ink(image):
    """The ink of the whole picture, composited onto white, as floats."""
    return invert(to_greyscale(reduce_large(flatten_onto_white(image))))


def straight_remove_background(ink, min_contrast=MIN_CONTRAST):
    """remove_background with np.percentile."""
    step = max(1, int(np.sqrt(ink.size / BACKGROUND_SAMPLE)))
    ground = float(np.percentile(ink[::step, ::step], PAPER_PERCENTILE))
    top = float(ink.max())
    if top - ground < min_contrast:
        raise EmptyImage()
    return np.clip((ink - ground) / (top - ground), 0.0, 1.0)


def straight_deskew(ink, slant):
    """deskew by ndimage.affine_transform."""
    if slant == 0:
        return ink
    height = ink.shape[0]
    pad = int(np.ceil(abs(slant) * height / 2)) + 1
    padded = np.pad(ink, ((0, 0), (pad, pad)))
    middle = (height - 1) / 2
    return ndimage.affine_transform(
        padded, np.array([[1.0, 0.0], [slant, 1.0]]), offset=(0.0, -slant * middle), order=1
    )


def straight_normalise_stroke(bitmap, width):
    """normalise_stroke with ndimage.binary_dilation."""
    if not bitmap.any():
        return bitmap
    depth = ndimage.distance_transform_edt(bitmap)
    steps = int(round((width - 2.0 * depth[bitmap].mean()) / 2.0))
    return ndimage.binary_dilation(bitmap, iterations=steps) if steps > 0 else bitmap


def straight_bitmap(image, chain):
    """``chain.to_bitmap(image)`` by the straightforward route."""
    if chain.reads_as_photo(image):  # a photo: the same cleaning, from its ink
        ink = crop_to_ink(clean_photo(straight_ink(image), chain.ink_threshold),
                          chain.ink_threshold)
    else:
        ink = crop_to_ink(straight_remove_background(straight_ink(image)), chain.ink_threshold)
    if chain.upright:
        ink = shrink(ink, 2 * BOX_SIZE)
        ink = straight_deskew(ink, measure_slant(ink))
        ink = crop_to_ink(ink, chain.ink_threshold / 2, min_ink_fraction=0)
    ink = fit_into_box(ink, BOX_SIZE, chain.min_aspect, chain.max_aspect)
    bitmap = straight_normalise_stroke(to_bitmap(ink, chain.ink_threshold), chain.stroke_width)
    return centre(bitmap, BOX_SIZE)


def straight_features(image, chain):
    return count_blocks(straight_bitmap(image, chain)).ravel()


# -- the pictures ------------------------------------------------------------------


def encoded(image, fmt="PNG"):
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def pictures(count):
    """{kind: [image bytes]}: ``count`` drawings of every digit in turn, each a
    little different, in each kind of picture."""
    canvases = [canvas_png(index % 10, jitter=0.05, seed=index) for index in range(count)]
    alphas = [Image.open(io.BytesIO(data)).getchannel("A") for data in canvases]
    opaque = Image.new("L", alphas[0].size, 255)
    white = [encoded(Image.merge("RGBA", (*[ImageOps.invert(alpha)] * 3, opaque)))
             for alpha in alphas]
    photos = [photo_jpeg(np.asarray(alpha), seed=index) for index, alpha in enumerate(alphas)]
    grey = [encoded(Image.open(io.BytesIO(photo)).convert("L"), "JPEG") for photo in photos]
    return {"canvas PNG": canvases, "white-fill PNG": white, "photo JPEG": photos,
            "grey photo JPEG": grey}


def cpu_ms(function, items):
    """CPU milliseconds per item of ``function`` over ``items``."""
    started = time.process_time()
    for item in items:
        function(item)
    return (time.process_time() - started) * 1000 / len(items)


def best_of(rounds, functions, items):
    """{name: least CPU ms per item} of ``rounds`` rounds, every function
    taking its turn in each round."""
    best = dict.fromkeys(functions, float("inf"))
    for _ in range(rounds):
        for name, function in functions.items():
            best[name] = min(best[name], cpu_ms(function, items))
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.chain_speed",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20, help="pictures of each kind")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)

    chain = ImageChain()
    print(f"CPU ms per 280x280 image, best of {args.rounds} rounds of {args.count}; "
          f"old: straightforward route, new: the chain")
    print(f"{'':16}{'decode':>22}{'chain':>22}{'decode + chain':>22}")
    print(f"{'':16}" + f"{'old':>8}{'new':>7}{'ratio':>7}" * 3)
    for kind, items in pictures(args.count).items():
        for data in items:
            image = open_image(data, chain.max_pixels)
            if not np.array_equal(straight_features(image, chain), chain.to_feature_vector(image)):
                raise SystemExit(f"{kind}: the two routes give different features")
        best = best_of(args.rounds, {
            "decode old": lambda data: straight_open_image(data, chain.max_pixels),
            "decode new": lambda data: open_image(data, chain.max_pixels),
            "both old": lambda data: straight_features(
                straight_open_image(data, chain.max_pixels), chain),
            "both new": lambda data: chain.to_feature_vector(open_image(data, chain.max_pixels)),
        }, items)
        columns = []
        for step in ("decode", "chain", "both"):
            if step == "chain":  # what decoding and the chain cost beyond decoding
                old, new = (best[f"both {route}"] - best[f"decode {route}"]
                            for route in ("old", "new"))
            else:
                old, new = best[f"{step} old"], best[f"{step} new"]
            columns.append(f"{old:8.3f}{new:7.3f}{old / new:6.1f}x")
        print(f"{kind:<16}" + "".join(columns))


if __name__ == "__main__":
    main()
