"""The one path of every request that reads: image bytes to an answer, through
the chain and the recognizer, with the prediction recorded beside it."""

from dataclasses import dataclass, replace

import numpy as np

from app.errors import DigitReaderError, EmptyImage, ImageTooLarge
from app.imaging.decode import MAX_JPEG_SCANS, MAX_SIDE, load_pixels, open_header
from app.imaging.ink import crop_to_ink
from app.imaging.pictures import archive_png
from app.imaging.segmentation import MAX_DIGITS, crop_digit, read_digits
from app.recognition.recognizer import Prediction


@dataclass(frozen=True)
class Answer:
    """A prediction, and the id of its stored record (None when not stored)."""

    prediction: Prediction
    prediction_id: int | None


@dataclass(frozen=True)
class DigitInNumber:
    """One digit of a number read: its prediction and where it is."""

    prediction: Prediction
    box: tuple  # x, y, width, height in the image's pixels


@dataclass(frozen=True)
class NumberReading:
    """A number read: its digits, left to right, and the marks that are no
    digit (segmentation.Mark: points, commas, minus signs), left out."""

    digits: list  # DigitInNumber, left to right
    marks: list = ()
    image_size: tuple = None  # width, height of the picture read, whose pixels the boxes are in

    @property
    def number(self):
        return "".join(str(digit.prediction.digit) for digit in self.digits)

    @property
    def model_version(self):
        return self.digits[0].prediction.model_version


class DigitReader:
    """Reads digits and numbers from the bytes of images, for the routes and commands.

    Besides the chain's pixel limit, what one request may cost: an image's
    longest side and a JPEG's scans, the digits of a number, and the pixels
    of a whole batch (by default those of one image).
    """

    def __init__(self, recognizer, history, max_stored_side, max_stored_bytes, *,
                 max_image_side=MAX_SIDE, max_jpeg_scans=MAX_JPEG_SCANS,
                 max_number_digits=MAX_DIGITS, max_batch_pixels=None):
        self.recognizer, self.chain, self.history = recognizer, recognizer.chain, history
        self.max_stored_side, self.max_stored_bytes = max_stored_side, max_stored_bytes
        self.max_image_side, self.max_jpeg_scans = max_image_side, max_jpeg_scans
        self.max_number_digits = max_number_digits
        self.max_batch_pixels = (self.chain.max_pixels if max_batch_pixels is None
                                 else max_batch_pixels)

    def _open_header(self, data):
        return open_header(data, self.chain.max_pixels, self.max_image_side, self.max_jpeg_scans)

    def _open(self, data):
        return load_pixels(self._open_header(data), data=data)

    def _archive(self, image, data):
        return archive_png(image, data, self.max_stored_side, self.max_stored_bytes)

    def read(self, data, source, filename=None, explain=False):
        """The Answer for one image, its prediction recorded; with ``explain``,
        it names the neighbours that voted."""
        image = self._open(data)
        prediction = self.recognizer.predict(image, explain)
        prediction_id = self.history.record(prediction, self._archive(image, data), source,
                                            filename)
        return Answer(prediction, prediction_id)

    def read_many(self, datas, source):
        """Read a batch of images in one vote and record them in one transaction.
        Each item is an Answer, or the DigitReaderError that image raised (an
        item that is already an error, one met while decoding it, is kept).

        The images share ``max_batch_pixels``, in order: one that would take
        the batch past them is ImageTooLarge, judged from its header, and is
        never decoded (a cheap file can be a large picture)."""
        results, archived, features = [], [], []
        pixels_left = self.max_batch_pixels
        for data in datas:
            if isinstance(data, DigitReaderError):
                results.append(data.with_traceback(None))
                continue
            try:
                header = self._open_header(data)
                pixels_left = self._pixels_left_after(header, pixels_left)
                image = load_pixels(header, data=data)
                features.append(self.chain.to_feature_vector(image))
            except DigitReaderError as error:
                # Kept without its traceback, whose frames hold the list that
                # holds it: a cycle only a full collection would free, with
                # every image of the batch in it.
                results.append(error.with_traceback(None))
                continue
            results.append(None)
            archived.append(self._archive(image, data))
        if not features:
            return results
        predictions = self.recognizer.predict_many(np.array(features))
        ids = self.history.record_many([
            (prediction, png, source, None)
            for prediction, png in zip(predictions, archived, strict=True)])
        answers = iter(Answer(p, i) for p, i in zip(predictions, ids, strict=True))
        return [result if result is not None else next(answers) for result in results]

    def _pixels_left_after(self, header, pixels_left):
        """The batch's pixels left once this image is read; ImageTooLarge when
        fewer than its own are left."""
        width, height = header.size
        if width * height > pixels_left:
            raise ImageTooLarge(
                f"The image ({width}x{height}) was not read: it would take the batch past the "
                f"{self.max_batch_pixels:,} pixels one batch may hold; send it in another batch.")
        return pixels_left - width * height

    def read_number(self, data):
        """The NumberReading of an image: split into its digits, left to right,
        each read in one vote; at most ``max_number_digits`` of them, past
        which the image is InvalidImage, refused before the digits are read."""
        return read_number_image(self._open(data), self.chain, self.recognizer.predict_many,
                                 self.max_number_digits, self.recognizer.pair_shares)

    def model(self):
        """The metadata of the model that answers now."""
        return self.recognizer.describe()


def read_number_image(image, chain, predict_many, max_digits=MAX_DIGITS, pair_shares=None):
    """The NumberReading of a decoded image, read by ``chain`` and
    ``predict_many`` (features (n, 64) to Predictions): the one route of the
    service, the commands and the benches. The digits are found by reading
    the ways of splitting the ink (``segmentation.read_digits``), weighed,
    where it is given, by ``pair_shares`` (features to how much each looks
    like two touching digits, or None; ``ServingModel.pair_shares``)."""
    ink = chain.page_ink(image)
    crop_to_ink(ink, chain.ink_threshold)  # a speck is as blank as for one digit

    def read(segments):
        features, found = [], []
        for segment in segments:
            try:
                features.append(chain.to_feature_vector(crop_digit(ink, segment)))
            except EmptyImage:  # a part too faint to read once cut out: not a digit
                found.append(False)
                continue
            found.append(True)
        features = np.array(features)
        predictions = predict_many(features) if len(features) else []
        shares = pair_shares(features) if pair_shares is not None and len(features) else None
        if shares is not None:
            predictions = [replace(prediction, pair_share=float(share))
                           for prediction, share in zip(predictions, shares, strict=True)]
        predictions = iter(predictions)
        return [next(predictions) if readable else None for readable in found]

    digits, marks = read_digits(ink, read, chain.ink_threshold, max_digits)
    if not digits:
        raise EmptyImage()
    return NumberReading([DigitInNumber(prediction, tuple(int(v) for v in segment.box))
                          for segment, prediction in digits], marks, (ink.shape[1], ink.shape[0]))
