"""The whole chain (ImageChain): 64 features from any picture, and a scikit-learn transformer."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from sklearn.base import clone
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from app.errors import EmptyImage
from app.imaging.chain import ImageChain
from app.imaging.decode import open_image
from app.imaging.ink import WORKING_SIDE, reduce_large
from bench.chain_speed import straight_features, straight_open_image
from conftest import ONE, SEVEN, ZERO, canvas_drawing, encode, on_paper
from serving import ROOT

from .compare import PICTURES, drawn, on_white, outcome, same

PNG = encode(canvas_drawing(ONE))


# -- the whole chain ------------------------------------------------------------


def test_the_chain_gives_sixty_four_features_from_zero_to_sixteen():
    features = ImageChain().transform([PNG, canvas_drawing(SEVEN)])
    assert features.shape == (2, 64)
    assert features.min() >= 0 and features.max() <= 16


def test_the_bitmap_fills_the_box_height_like_the_optdigits_bitmaps():
    bitmap = ImageChain().to_bitmap(canvas_drawing(ZERO, width=10))
    rows = np.flatnonzero(bitmap.any(axis=1))
    assert rows[0] == 0 and rows[-1] == 31


def test_a_drawing_reads_the_same_as_a_photo_of_it():
    chain = ImageChain()
    drawing = canvas_drawing(SEVEN)
    photo = encode(on_paper(drawing), "JPEG", quality=90)
    difference = np.abs(chain.to_feature_vector(drawing) - chain.to_feature_vector(photo))
    assert difference.mean() < 1.0


def test_a_blank_canvas_is_an_empty_image_not_a_zero():
    with pytest.raises(EmptyImage):
        ImageChain().to_feature_vector(encode(canvas_drawing([])))


def test_a_blank_white_photo_is_an_empty_image():
    with pytest.raises(EmptyImage):
        ImageChain().to_feature_vector(encode(Image.new("RGB", (50, 50), "white")))


def test_ink_arrays_such_as_dataset_digits_go_through_the_chain():
    ink = np.zeros((28, 28), dtype=np.uint8)
    ink[4:24, 12:16] = 255
    assert ImageChain().to_feature_vector(ink).shape == (64,)


def test_a_large_picture_is_reduced_before_the_chain_and_reads_the_same():
    small = on_paper(canvas_drawing(SEVEN, size=400, width=32))
    large = small.resize((4000, 4000), Image.Resampling.NEAREST)
    assert max(reduce_large(large).size) <= WORKING_SIDE
    chain = ImageChain(max_pixels=20_000_000)
    difference = chain.to_feature_vector(large) - chain.to_feature_vector(small)
    assert np.abs(difference).mean() < 1.0


# -- the fast route reads as the straightforward one -----------------------------


def read_straight(data, chain):
    return straight_features(straight_open_image(data, chain.max_pixels), chain)


def read_fast(data, chain):
    return chain.to_feature_vector(open_image(data, chain.max_pixels))


@pytest.mark.parametrize("kind", PICTURES)
def test_the_chain_reads_every_kind_of_picture_as_the_straightforward_route(kind):
    chain = ImageChain()
    for index in range(24):
        data = PICTURES[kind](index)
        assert same(outcome(read_straight, data, chain), outcome(read_fast, data, chain)), index


@pytest.mark.parametrize("picture", [
    Image.new("RGBA", (280, 280)),  # transparent all over
    Image.new("RGBA", (280, 280), (0, 0, 0, 20)),  # too faint to be a digit
    Image.new("RGB", (280, 280), (90, 90, 90)),  # no contrast
    Image.new("L", (280, 280), 255).resize((1500, 1500)),  # large, blank
])
def test_a_picture_without_ink_is_empty_by_either_route(picture):
    chain = ImageChain()
    with pytest.raises(EmptyImage):
        chain.to_feature_vector(picture)
    with pytest.raises(EmptyImage):
        straight_features(picture, chain)


def test_a_large_picture_reads_as_by_the_straightforward_route():
    chain = ImageChain(max_pixels=20_000_000)
    for index in range(3):
        picture = on_white(drawn(index)).convert("RGB").resize((1500 + 700 * index, 1100))
        assert same(straight_features(picture, chain), chain.to_feature_vector(picture))


# -- a scikit-learn transformer without scikit-learn -----------------------------


@pytest.mark.filterwarnings("error")
def test_the_chain_is_a_transformer_that_a_scikit_learn_pipeline_clones_and_sets():
    pipeline = Pipeline([("chain", ImageChain()), ("knn", KNeighborsClassifier(1))])
    images = [canvas_drawing(strokes) for strokes in (ONE, SEVEN, ZERO)]
    fitted = clone(pipeline).set_params(chain__upright=False, chain__max_pixels=10**6)
    fitted.fit(images, [1, 7, 0])
    assert fitted.predict(images).tolist() == [1, 7, 0]
    assert repr(fitted.named_steps["chain"]) == "ImageChain(max_pixels=1000000, upright=False)"
    assert repr(pipeline.named_steps["chain"]) == "ImageChain()"  # the clone is its own
    chain_alone = fitted[:1]  # a pipeline of the chain alone: fitted, though it learnt nothing
    assert np.array_equal(chain_alone.transform(images),
                          ImageChain(upright=False).fit_transform(images))


def test_the_chain_s_parameters_are_those_of_its_init():
    chain = ImageChain(max_pixels=1, min_aspect=None)
    assert chain.get_params() == {"ink_threshold": 0.35, "max_aspect": 0.66, "max_pixels": 1,
                                  "min_aspect": None, "photos": True, "stroke_width": 4.0,
                                  "upright": True}
    assert chain.set_params(ink_threshold=0.5) is chain and chain.ink_threshold == 0.5
    assert repr(chain) == "ImageChain(ink_threshold=0.5, max_pixels=1, min_aspect=None)"


def test_an_unknown_chain_parameter_is_refused_and_nothing_is_changed():
    chain = ImageChain()
    with pytest.raises(ValueError, match="Invalid parameter 'colour'"):
        chain.set_params(upright=False, colour="red")
    assert chain.upright is True


def modules_loaded_reading(picture):
    """The packages among scikit-learn, scipy and scikit-image a fresh process
    has loaded once it has read one digit drawn as ``picture`` ("canvas": in
    the alpha channel, as the draw page sends it; "paper": on a photo's grainy
    paper)."""
    code = "\n".join([
        "import sys",
        "from PIL import Image, ImageDraw",
        "import app.recognition.confidence, app.imaging.segmentation",
        "from app.imaging.chain import ImageChain",
        "image = Image.new('RGBA', (60, 80))" if picture == "canvas" else
        "image = Image.effect_noise((60, 80), 6).point(lambda grey: grey + 90)",  # grainy paper
        "ImageDraw.Draw(image).line([(30, 5), (30, 75)], fill='black', width=2)",
        "ImageChain().transform([image])",
        "print(sorted({name.split('.')[0] for name in sys.modules} "
        "& {'sklearn', 'scipy', 'skimage'}))",
    ])
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    return ran.stdout.strip()


def test_reading_a_drawing_imports_neither_scikit_learn_nor_scipy():
    assert modules_loaded_reading("canvas") == "[]"


def test_reading_a_photo_loads_scikit_image_but_never_scikit_learn():
    assert modules_loaded_reading("paper") == "['scipy', 'skimage']"
