"""Render dataset digits the way clients send them to the service.

* canvas: a large RGBA PNG with black ink in the alpha channel on a transparent
  ground, as ``canvas.toDataURL()`` sends a drawing;
* photo: dark ink on an uneven, off-white, opaque paper, saved as a JPEG.

And the hostile pictures of the soak test and of the tests of the limits:
bombs, pictures that cost far more to read than to send.
"""

import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw

STYLES = ("canvas", "photo")


def _upscale(ink, size):
    return Image.fromarray(np.asarray(ink, dtype=np.uint8), mode="L").resize(
        (size, size), Image.Resampling.BILINEAR
    )


def canvas_png(ink, size=280):
    alpha = _upscale(ink, size)
    rgba = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    rgba.putalpha(alpha)
    buffer = io.BytesIO()
    rgba.save(buffer, format="PNG")
    return buffer.getvalue()


def photo_jpeg(ink, size=280, seed=0):
    rng = np.random.default_rng(seed)
    alpha = np.asarray(_upscale(ink, size), dtype=np.float32)[..., None] / 255.0
    paper = np.array([236.0, 231.0, 220.0]) + rng.normal(0, 4, (size, size, 1))
    # light falling across the sheet
    paper = paper - np.linspace(0, 18, size)[None, :, None]
    pen = np.array([38.0, 36.0, 52.0])
    pixels = paper * (1 - alpha) + pen * alpha
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=88)
    return buffer.getvalue()


def render(ink, style, seed=0):
    return canvas_png(ink) if style == "canvas" else photo_jpeg(ink, seed=seed)


def png_bomb(width, height):
    """A valid 1-bit PNG of ``width`` x ``height`` white pixels, a few KB long:
    a decompression bomb (about 50 KB at 20000 a side)."""
    squeeze = zlib.compressobj(9)
    row = b"\0" + b"\xff" * ((width + 7) // 8)
    pixels = b"".join(squeeze.compress(row) for _ in range(height)) + squeeze.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels)
            + _chunk(b"IEND", b""))


def jpeg_scan_bomb(side, scans):
    """A greyscale progressive JPEG of ``side`` x ``side`` plain grey pixels
    in ``scans`` scans, all but its first few copies of its last (a
    refinement with nothing to refine): each costs the decoder a pass over
    every block, some 3-8 ms at 4000 a side, for 31 bytes of file (about
    430 KB for 12,000 scans)."""
    buffer = io.BytesIO()
    Image.new("L", (side, side), 128).save(buffer, format="JPEG", progressive=True)
    data = buffer.getvalue()
    start_of_scan, end_of_image = b"\xff\xda", data[-2:]
    last_scan = data[data.rindex(start_of_scan):-2]
    return data[:-2] + last_scan * (scans - data.count(start_of_scan)) + end_of_image


def ruled_lines_png(lines=64, width=1024, height=160):
    """Black horizontal lines a pixel thick and a pixel apart on white: a PNG
    of a few hundred bytes, each of whose lines is as wide as a thousand
    digits as tall as it is."""
    paper = np.full((height, width), 255, dtype=np.uint8)
    paper[10:10 + 2 * lines:2] = 0
    buffer = io.BytesIO()
    Image.fromarray(paper).save(buffer, format="PNG")
    return buffer.getvalue()


def seven_png(side=4000, mode="LA"):
    """A 7 drawn in black on a transparent ground, ``side`` pixels a side, as
    a PNG in ``mode``: about 45 KB in LA at 4000 a side. A 1-bit PNG ("1")
    has its white marked transparent instead: 17 KB for 16 million pixels,
    each four bytes once composited."""
    image = Image.new("1" if mode == "1" else "RGBA", (side, side), 1 if mode == "1" else 0)
    ImageDraw.Draw(image).line([(side // 4, side // 5), (3 * side // 4, side // 5),
                                (9 * side // 20, 17 * side // 20)],
                               fill=0 if mode == "1" else (0, 0, 0, 255), width=side // 13)
    buffer = io.BytesIO()
    if mode == "1":
        image.save(buffer, format="PNG", transparency=1)
    else:
        image.convert(mode).save(buffer, format="PNG")
    return buffer.getvalue()


def blank_png(width, height, colour_type=4):
    """A valid 8-bit PNG of ``width`` x ``height`` pixels of zeros (colour
    type 4: greyscale with alpha, transparent black), made a megabyte at a
    time: 31 KB for 16,000,000 x 1."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    squeeze = zlib.compressobj(9)
    chunks, row = [], width * channels
    for _ in range(height):
        chunks.append(squeeze.compress(b"\0"))  # the row's filter: none
        for start in range(0, row, 1 << 20):
            chunks.append(squeeze.compress(bytes(min(1 << 20, row - start))))
    pixels = b"".join(chunks) + squeeze.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels)
            + _chunk(b"IEND", b""))


def _chunk(kind, payload):
    """A PNG chunk: length, kind, payload and checksum."""
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload)))
