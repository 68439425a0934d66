"""The one path of every request that reads: image bytes to an answer, through
the chain and the recognizer, with the prediction recorded beside it."""

from dataclasses import dataclass

import numpy as np

from app.errors import DigitReaderError, EmptyImage
from app.imaging.decode import open_image
from app.imaging.ink import crop_to_ink, ink_from_image, remove_background
from app.imaging.pictures import archive_png
from app.imaging.segmentation import crop_digit, split_digits
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
    """A number read: its digits, left to right."""

    digits: list  # DigitInNumber, left to right

    @property
    def number(self):
        return "".join(str(digit.prediction.digit) for digit in self.digits)

    @property
    def model_version(self):
        return self.digits[0].prediction.model_version


class DigitReader:
    """Reads digits and numbers from the bytes of images, for the routes and commands."""

    def __init__(self, recognizer, history, max_stored_side, max_stored_bytes):
        self.recognizer = recognizer
        self.chain = recognizer.chain
        self.history = history
        self.max_stored_side = max_stored_side
        self.max_stored_bytes = max_stored_bytes

    def _open(self, data):
        return open_image(data, self.chain.max_pixels)

    def _archive(self, image, data):
        return archive_png(image, data, self.max_stored_side, self.max_stored_bytes)

    def read(self, data, source, filename=None):
        """The Answer for one image, its prediction recorded."""
        image = self._open(data)
        prediction = self.recognizer.predict(image)
        prediction_id = self.history.record(prediction, self._archive(image, data), source,
                                            filename)
        return Answer(prediction, prediction_id)

    def read_many(self, datas, source):
        """Read a batch of images in one vote and record them in one transaction.
        Each item is an Answer, or the DigitReaderError that image raised (an
        item that is already an error, one met while decoding it, is kept)."""
        results, archived, features = [], [], []
        for data in datas:
            if isinstance(data, DigitReaderError):
                results.append(data)
                continue
            try:
                image = self._open(data)
                features.append(self.chain.to_feature_vector(image))
            except DigitReaderError as error:
                results.append(error)
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

    def read_number(self, data):
        """The NumberReading of an image: split into its digits, left to right,
        each read in one vote."""
        ink = remove_background(ink_from_image(self._open(data)))
        crop_to_ink(ink, self.chain.ink_threshold)  # a speck is as blank as for one digit
        features, boxes = [], []
        for segment in split_digits(ink):
            try:
                features.append(self.chain.to_feature_vector(crop_digit(ink, segment)))
            except EmptyImage:  # a part too faint to read once cut out: not a digit
                continue
            boxes.append(tuple(int(value) for value in segment.box))
        if not features:
            raise EmptyImage()
        predictions = self.recognizer.predict_many(np.array(features))
        return NumberReading([DigitInNumber(p, box)
                              for p, box in zip(predictions, boxes, strict=True)])

    def model(self):
        """The metadata of the model that answers now."""
        return self.recognizer.describe()
