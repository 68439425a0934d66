"""The image chain: any picture to the 64 features of scikit-learn's digits set,
as one scikit-learn transformer (by its methods, not by inheritance)."""

import inspect

import numpy as np
from PIL import Image

from app.errors import InvalidImage
from app.imaging.decode import open_image
from app.imaging.ink import (
    INK_THRESHOLD,
    crop_to_ink,
    cropped_ink,
    drawn_in_alpha,
    ink_from_image,
    on_clean_paper,
    remove_background,
)
from app.imaging.photo import photo_ink
from app.imaging.shape import (
    BOX_SIZE,
    FEATURE_SIZE,
    centre,
    count_blocks,
    deskew,
    fit_into_box,
    measure_slant,
    normalise_stroke,
    shrink,
    to_bitmap,
)


class ImageChain:
    """Turn images into the 64 features of scikit-learn's digits set.

    ``transform`` accepts a sequence of image bytes (PNG, JPEG, GIF, WebP, BMP),
    Pillow images, or 2-D arrays of ink intensity (ink high, paper 0, such as
    MNIST or optdigits bitmaps), and returns an ``(n, 64)`` array.

    ``upright`` corrects the slant; ``min_aspect`` and ``max_aspect`` bound the
    width of the digit as a fraction of its height (``None``: keep the aspect
    ratio and fit the longer side). ``photos`` finds the digit in an opaque
    picture as in a photo (``photo.photo_ink``); a drawing's ink in the alpha
    channel never needs it.

    A scikit-learn transformer by its methods, not by inheritance: ``clone``,
    ``Pipeline`` and ``set_params`` take it as one, but it subclasses nothing
    of scikit-learn's, because a serving process, which only reads images,
    must never import scikit-learn (and scipy with it): memory every worker
    would carry for nothing.
    """

    def __init__(self, max_pixels=16_000_000, ink_threshold=INK_THRESHOLD, stroke_width=4.0,
                 upright=True, min_aspect=0.6, max_aspect=0.66, photos=True):
        self.max_pixels = max_pixels
        self.ink_threshold = ink_threshold
        self.stroke_width = stroke_width
        self.upright = upright
        self.min_aspect = min_aspect
        self.max_aspect = max_aspect
        self.photos = photos

    @classmethod
    def _parameter_names(cls):
        """The parameters' names, read from ``__init__`` as scikit-learn reads them."""
        return sorted(name for name in inspect.signature(cls.__init__).parameters
                      if name != "self")

    def get_params(self, deep=True):
        """The parameters by name (none holds an estimator, so ``deep`` adds nothing)."""
        return {name: getattr(self, name) for name in self._parameter_names()}

    def set_params(self, **params):
        """Change parameters by name; ValueError, and nothing changed, for a name
        that is none of them."""
        names = self._parameter_names()
        for name in params:
            if name not in names:
                raise ValueError(f"Invalid parameter {name!r} for estimator {self}. "
                                 f"Valid parameters are: {names!r}.")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self):
        """As scikit-learn shows an estimator: the parameters not at their default."""
        defaults = inspect.signature(type(self).__init__).parameters
        changed = [f"{name}={value!r}" for name, value in self.get_params().items()
                   if repr(value) != repr(defaults[name].default)]
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self):
        """scikit-learn's tags: a transformer with nothing to learn, so that
        ``check_is_fitted`` passes it. Only scikit-learn asks, and has itself
        imported by then."""
        from sklearn.utils import Tags, TargetTags, TransformerTags

        return Tags(estimator_type=None, target_tags=TargetTags(required=False),
                    transformer_tags=TransformerTags(), requires_fit=False)

    def signature(self):
        """What a model depends on in the chain, as text: a model made for other
        steps is stale. The pixel limit bounds the input, not the features."""
        params = self.get_params()
        params.pop("max_pixels")
        return ",".join(f"{name}={params[name]}" for name in sorted(params))

    def fit(self, X, y=None):
        """Nothing to learn: the chain is the same for every set of images."""
        return self

    def transform(self, X):
        """The features (n, 64) of a sequence of n images."""
        return np.stack([self.to_feature_vector(item) for item in X]) if len(X) else (
            np.empty((0, FEATURE_SIZE))
        )

    def fit_transform(self, X, y=None):
        """``fit``, then ``transform``, as scikit-learn's TransformerMixin does."""
        return self.fit(X, y).transform(X)

    def to_bitmap(self, item):
        """The 32x32 bitmap the model sees, for one image."""
        if isinstance(item, (bytes, bytearray, memoryview)):
            item = open_image(bytes(item), self.max_pixels)
        if isinstance(item, Image.Image):
            ink = self.picture_ink(item)
        else:
            ink = np.asarray(item, dtype=np.float32)
            if ink.ndim != 2 or ink.size == 0:
                raise InvalidImage("An array image must be two-dimensional and not empty.")
            ink = np.nan_to_num(ink, nan=0.0, posinf=0.0, neginf=0.0)
            ink = ink / max(float(ink.max()), 1e-9)
            ink = crop_to_ink(remove_background(ink), self.ink_threshold)
        if self.upright:
            ink = shrink(ink, 2 * BOX_SIZE)
            ink = deskew(ink, measure_slant(ink))
            # the shear blurs the edges a little: crop at half the threshold
            ink = crop_to_ink(ink, self.ink_threshold / 2, min_ink_fraction=0)
        ink = fit_into_box(ink, BOX_SIZE, self.min_aspect, self.max_aspect)
        bitmap = normalise_stroke(to_bitmap(ink, self.ink_threshold), self.stroke_width)
        return centre(bitmap, BOX_SIZE)

    def picture_ink(self, image):
        """The ink of one digit in a decoded picture, cropped to it: in a photo,
        its largest coherent ink."""
        if not self.reads_as_photo(image):
            return cropped_ink(image, self.ink_threshold)
        return crop_to_ink(photo_ink(image, self.ink_threshold), self.ink_threshold)

    def page_ink(self, image):
        """The ink of a whole decoded picture (a number), in its own pixels."""
        if not self.reads_as_photo(image):
            return remove_background(ink_from_image(image))
        return photo_ink(image, self.ink_threshold, whole=True)

    def reads_as_photo(self, image):
        """Whether the picture needs a photo's steps: not a drawing in the
        alpha channel, nor on paper of one even level (a canvas filled white,
        a clean scan), which have no uneven light or noise to clean."""
        return self.photos and not drawn_in_alpha(image) and not on_clean_paper(image)

    def to_feature_vector(self, item):
        """The 64 features (8x8 ink counts, 0-16) the classifier reads, for one image."""
        return count_blocks(self.to_bitmap(item)).ravel()
