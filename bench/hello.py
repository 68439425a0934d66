"""The yardsticks for bench/throughput.sh, served by gunicorn with the same
settings as the service:

* hello-world: plain Flask that parses the same JSON body as POST
  /api/predict and answers a small JSON::

    gunicorn -c gunicorn.conf.py 'bench.hello:create_app()'

* the floor: hello-world plus what no reader of the picture can skip: the
  data URI's base64 decoded, the PNG decoded by Pillow, and one look at its
  pixels (the box of its ink)::

    gunicorn -c gunicorn.conf.py 'bench.hello:create_floor_app()'
"""

import base64
import io

from flask import Flask, jsonify, request
from PIL import Image


def yardstick_app(answer):
    """Flask that parses the same JSON bodies as POST /api/predict and
    /api/predict/batch and answers each image with ``answer(image)``, a dict."""
    app = Flask(__name__)

    @app.post("/api/predict")
    def predict():
        return jsonify(digit=0, **answer(request.get_json()["image"]))

    @app.post("/api/predict/batch")
    def predict_batch():
        return jsonify(results=[answer(image) for image in request.get_json()["images"]])

    return app


def ink_box(data_uri):
    """The box of the ink of the PNG in ``data_uri``: decoded, and every pixel looked at."""
    payload = data_uri.partition(",")[2] or data_uri
    image = Image.open(io.BytesIO(base64.b64decode(payload)))
    return image.getbbox()


def create_app():
    return yardstick_app(lambda image: {"received": len(image)})


def create_floor_app():
    return yardstick_app(lambda image: {"box": ink_box(image)})
