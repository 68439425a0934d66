"""The yardstick for bench/throughput.sh: plain Flask that parses the same JSON
body as POST /api/predict and answers a small JSON, served by gunicorn with the
same settings as the service::

    gunicorn -c gunicorn.conf.py 'bench.hello:create_app()'
"""

from flask import Flask, jsonify, request


def create_app():
    app = Flask(__name__)

    @app.post("/api/predict")
    def predict():
        body = request.get_json()
        return jsonify(digit=0, received=len(body["image"]))

    @app.post("/api/predict/batch")
    def predict_batch():
        body = request.get_json()
        return jsonify(results=[{"received": len(image)} for image in body["images"]])

    return app
