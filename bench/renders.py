"""Render dataset digits the way clients send them to the service.

* canvas: a large RGBA PNG with black ink in the alpha channel on a transparent
  ground, as ``canvas.toDataURL()`` sends a drawing;
* photo: dark ink on an uneven, off-white, opaque paper, saved as a JPEG.
"""

import io
import struct
import zlib

import numpy as np
from PIL import Image

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
    def chunk(kind, payload):
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload)))

    squeeze = zlib.compressobj(9)
    row = b"\0" + b"\xff" * ((width + 7) // 8)
    pixels = b"".join(squeeze.compress(row) for _ in range(height)) + squeeze.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
            + chunk(b"IEND", b""))
