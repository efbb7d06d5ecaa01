"""The ImageNet weights really load: the network recognises real photos."""
import numpy as np
import pytest
import torch
from PIL import Image

from skimage import data as skimage_data

from engine.models.efficientnet_lite import FEATURE_CHANNELS, efficientnet_lite0


@pytest.fixture(scope="module")
def model():
    return efficientnet_lite0(pretrained=True)


def classify(model, image: np.ndarray) -> torch.Tensor:
    resized = np.asarray(Image.fromarray(image).resize((224, 224), Image.BILINEAR)).copy()
    with torch.inference_mode():
        return model(model.normalise(torch.from_numpy(resized)[None]))[0].softmax(-1)


def test_coffee_is_espresso(model):
    assert int(classify(model, skimage_data.coffee()).argmax()) == 967


def test_chelsea_is_a_cat(model):
    assert 281 <= int(classify(model, skimage_data.chelsea()).argmax()) <= 285


def test_untrained_network_does_not_pass_the_same_check():
    torch.manual_seed(0)
    untrained = efficientnet_lite0(pretrained=False)
    assert classify(untrained, skimage_data.coffee()).max() < 0.5


def test_feature_maps_have_the_declared_strides_and_channels(model):
    with torch.inference_mode():
        features = model.forward_features(torch.zeros(2, 3, 224, 224))
    assert {k: tuple(v.shape) for k, v in features.items()} == {
        "s4": (2, FEATURE_CHANNELS["s4"], 56, 56),
        "s8": (2, FEATURE_CHANNELS["s8"], 28, 28),
        "s16": (2, FEATURE_CHANNELS["s16"], 14, 14),
        "s32": (2, FEATURE_CHANNELS["s32"], 7, 7),
    }
