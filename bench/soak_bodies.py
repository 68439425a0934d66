"""The request bodies of bench/soak.sh, one file each in the folder given:
valid and hostile traffic for the soak test."""

import base64
import io
import json
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from bench.renders import png_bomb


def png(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def canvas_seven(size=280, width=22):
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    ImageDraw.Draw(image).line([(70, 56), (210, 56), (126, 238)], fill=(0, 0, 0, 255),
                               width=width, joint="curve")
    return image


def main(folder, max_upload_bytes):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    seven = png(canvas_seven())
    data_uri = "data:image/png;base64," + base64.b64encode(seven).decode()
    boundary = "soakboundary"
    multipart = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
                 f"filename=\"seven.png\"\r\nContent-Type: image/png\r\n\r\n").encode() + seven + (
                 f"\r\n--{boundary}--\r\n").encode()
    # name: (method, path, content type, body)
    bodies = {
        "valid_json": ("POST", "/api/predict", "application/json",
                       json.dumps({"image": data_uri}).encode()),
        "valid_read": ("POST", "/api/read", "application/json",
                       json.dumps({"image": data_uri}).encode()),
        "valid_multipart": ("POST", "/api/predict",
                            f"multipart/form-data; boundary={boundary}", multipart),
        "valid_raw": ("POST", "/api/predict", "image/png", seven),
        "malformed_json": ("POST", "/api/predict", "application/json", b'{"image": "iVBOR'),
        "bad_base64": ("POST", "/api/predict", "application/json",
                       json.dumps({"image": "data:image/png;base64,@@not*base64!!"}).encode()),
        "wrong_type": ("POST", "/api/predict", "text/plain", b"seven"),
        "truncated_png": ("POST", "/api/predict", "image/png", seven[: len(seven) // 2]),
        "empty_image": ("POST", "/api/predict", "image/png",
                        png(Image.new("RGBA", (280, 280), (0, 0, 0, 0)))),
        "png_bomb": ("POST", "/api/predict", "image/png", png_bomb(20000, 20000)),
        "oversize": ("POST", "/api/predict", "image/png", b"\0" * (max_upload_bytes + 4096)),
        "unknown_url": ("GET", "/api/nothing/here", "", b""),
        "unknown_page": ("GET", "/wp-admin/../../etc/passwd", "", b""),
    }
    index = []
    for name, (method, path, content_type, body) in bodies.items():
        (folder / f"{name}.body").write_bytes(body)
        index.append(f"{name}\t{method}\t{path}\t{content_type}")
    (folder / "index.tsv").write_text("\n".join(index) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
