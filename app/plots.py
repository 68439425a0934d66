"""Pictures of how well the model reads, drawn on the server with Pillow."""

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CELL = 44
MARGIN = 64  # above the grid
LEFT = 84  # left of the grid


def _font(size):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def confusion_matrix_png(confusion, title="Confusion matrix"):
    """A 10x10 confusion matrix (rows: true digit, columns: digit read) as PNG.

    Each cell's shade is its share of its row, so that a digit's mistakes stand
    out whatever its count; the count is written in the cell.
    """
    confusion = np.asarray(confusion, dtype=np.int64)
    size = len(confusion)
    shares = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    width = LEFT + size * CELL + 16
    height = MARGIN + size * CELL + 16
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    label_font, cell_font = _font(15), _font(13)

    draw.text((8, 8), title, fill="#1d3557", font=_font(17))
    draw.text((LEFT + size * CELL / 2, 36), "digit read", fill="#444", font=label_font,
              anchor="mm")
    draw.text((30, MARGIN + size * CELL / 2), "true", fill="#444", font=label_font, anchor="mm")
    for index in range(size):
        draw.text((LEFT + index * CELL + CELL / 2, MARGIN - 10), str(index), fill="#222",
                  font=label_font, anchor="mm")
        draw.text((LEFT - 14, MARGIN + index * CELL + CELL / 2), str(index), fill="#222",
                  font=label_font, anchor="mm")
    for row in range(size):
        for column in range(size):
            share = float(shares[row, column])
            if row == column:  # right answers in blue, mistakes in red
                colour = _blend((255, 255, 255), (29, 53, 87), share)
            else:
                colour = _blend((255, 255, 255), (230, 57, 70), min(1.0, share * 5))
            left, top = LEFT + column * CELL, MARGIN + row * CELL
            draw.rectangle((left, top, left + CELL - 1, top + CELL - 1), fill=colour,
                           outline="#e5e5e5")
            count = int(confusion[row, column])
            if count:
                ink = "white" if sum(colour) < 380 else "#222"
                draw.text((left + CELL / 2, top + CELL / 2), str(count), fill=ink,
                          font=cell_font, anchor="mm")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _blend(low, high, amount):
    return tuple(round(a + (b - a) * amount) for a, b in zip(low, high, strict=True))
