"""The request bodies of bench/soak.sh, one file each in the folder given:
valid and hostile traffic for the soak test."""

import base64
import io
import json
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from bench.renders import blank_png, jpeg_scan_bomb, png_bomb, ruled_lines_png, seven_png


def png(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def canvas_seven(size=280, width=22):
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    ImageDraw.Draw(image).line([(70, 56), (210, 56), (126, 238)], fill=(0, 0, 0, 255),
                               width=width, joint="curve")
    return image


def big_batch(max_upload_bytes, most=64):
    """A batch of cheap large pictures: each a 17 KB PNG of 16 million pixels,
    as many as the upload limit takes (64 in 1.5 MB)."""
    item = json.dumps(base64.b64encode(seven_png(4000, "1")).decode())
    count = min(most, (max_upload_bytes - 64) // (len(item) + 2))
    return ('{"images": [' + ", ".join([item] * count) + "]}").encode()


def chunked(body, size=65536):
    """``body`` in HTTP/1.1 chunked transfer coding, as a client streams it
    without a Content-Length (soak.lua sends it with that header alone)."""
    pieces = [body[i:i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


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
        # Pictures that cost far more to read than to send (issue 13).
        "ruled_lines_read": ("POST", "/api/read", "image/png", ruled_lines_png(64)),
        "jpeg_scan_bomb": ("POST", "/api/predict", "image/jpeg", jpeg_scan_bomb(4000, 12_000)),
        "big_batch": ("POST", "/api/predict/batch", "application/json",
                      big_batch(max_upload_bytes)),
        "wide_png": ("POST", "/api/predict", "image/png", blank_png(16_000_000, 1)),
        "large_la_png": ("POST", "/api/predict", "image/png", seven_png(4000, "LA")),
        # Bodies that used to escape the parsers as server errors (issue 13).
        "deep_json": ("POST", "/api/predict", "application/json", b"[" * 100_000),
        "deep_json_label": ("PUT", "/api/predictions/1/label", "application/json", b"[" * 3000),
        "long_integer_label": ("PUT", "/api/predictions/1/label", "application/json",
                               b'{"label": ' + b"9" * 5000 + b"}"),
        "long_integer_batch": ("POST", "/api/predict/batch", "application/json",
                               b'{"images": [' + b"9" * 5000 + b"]}"),
        "chunked_oversize": ("POST", "/api/predict", "image/png;chunked",
                             chunked(seven + b"\0" * (max_upload_bytes + 4096))),
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
