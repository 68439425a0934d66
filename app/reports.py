"""The confusion matrix drawn: its cells' shades (one source for the model
page's SVG and the evaluate command's PNG) and the PNG itself, with Pillow."""

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CELL = 44
MARGIN = 64  # above the grid
LEFT = 84  # left of the grid
RIGHT_COLOUR, WRONG_COLOUR = (29, 78, 216), (220, 38, 38)  # blue, red


def _font(size):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def confusion_matrix_png(confusion, title="Confusion matrix"):
    """A 10x10 confusion matrix (rows: true digit, columns: digit read) as PNG.

    Each cell's shade is its share of its row (``confusion_cells``), so that a
    digit's mistakes stand out whatever its count; the count is written in it.
    """
    confusion = np.asarray(confusion, dtype=np.int64)
    size = len(confusion)
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
    for cell in confusion_cells(confusion):
        left, top = LEFT + cell["column"] * CELL, MARGIN + cell["row"] * CELL
        draw.rectangle((left, top, left + CELL - 1, top + CELL - 1), fill=cell["fill"],
                       outline="#e5e5e5")
        if cell["count"]:
            draw.text((left + CELL / 2, top + CELL / 2), str(cell["count"]), fill=cell["ink"],
                      font=cell_font, anchor="mm")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def confusion_cells(confusion):
    """Each cell of a confusion matrix (rows: true digit, columns: digit read)
    with its shade: its share of the row, blue on the diagonal and red off it,
    where even a few mistakes should show."""
    confusion = np.asarray(confusion, dtype=np.int64)
    shares = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    cells = []
    for (row, column), count in np.ndenumerate(confusion):
        share = float(shares[row, column])
        if row == column:
            fill, strength = RIGHT_COLOUR, share
        else:
            fill, strength = WRONG_COLOUR, min(1.0, 0.12 + share * 5) if count else 0.0
        shade = tuple(round(255 + (channel - 255) * strength) for channel in fill)
        cells.append({
            "row": row, "column": column, "count": int(count),
            "fill": "#{:02x}{:02x}{:02x}".format(*shade),
            "ink": "#ffffff" if strength > 0.55 else "#1f2937",
        })
    return cells
