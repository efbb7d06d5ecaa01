"""dfa_vgg16: .caffemodel import (name and shape checks) and the paper's network and decoding, against numpy."""
from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from engine.caffemodel import CaffeModelError, read_caffemodel
from engine.cli import main as engine_main
from engine.contracts import GarmentCrops
from engine.dfa_weights import MANIFEST, import_caffemodels, read_manifest
from engine.models.dfa_vgg16 import (
    BGR_MEANS,
    NUM_LANDMARKS,
    STAGES,
    VGG16_BLOCKS,
    CaffeImportError,
    DfaConfig,
    DfaStage,
)
from engine.types import SLOTS_BY_TYPE, SLOT_INDEX, Box, Detection, GarmentType, Visibility
from plugins.dfa_vgg16 import DfaVgg16Aligner
from tests.plugins.caffe_fixtures import random_weights, write_caffemodel

# The real layer names and the real network, shrunk: a 32x32 input, narrow convolutions and fc layers.
SMALL = DfaConfig(input_size=32, conv_widths=(4, 6, 8, 8, 8), fc_width=24, pre_width=8, softlabel_classes=20)
HARDLABEL_CLASSES = 7


def write_published_folder(root, garment_type: str, seed: int, legacy_stages=("stage2",)) -> dict[str, dict]:
    """FLD_<type>/<stage>.caffemodel with random weights, as the authors publish them; returns the weights."""
    rng = np.random.default_rng(seed)
    n = NUM_LANDMARKS[garment_type]
    weights = {}
    for stage in STAGES:
        cascade = stage != "stage1"
        classes = HARDLABEL_CLASSES if cascade else SMALL.softlabel_classes
        weights[stage] = random_weights(DfaStage(SMALL, n, cascade, classes), rng)
        write_caffemodel(
            root / f"FLD_{garment_type}" / f"{stage}.caffemodel",
            f"DFA_{garment_type}_{stage}",
            weights[stage],
            legacy=stage in legacy_stages,
        )
    return weights


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    source = tmp_path_factory.mktemp("caffemodels")
    out = tmp_path_factory.mktemp("dfa_weights")
    weights = {t: write_published_folder(source, t, seed=i) for i, t in enumerate(NUM_LANDMARKS)}
    import_caffemodels(source, out, config=SMALL, progress=lambda message: None)
    return source, out, weights


# --- a direct numpy computation of the published network -------------------------------------------------


def np_conv3x3(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    c, h, width = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    columns = np.stack([padded[:, dy : dy + h, dx : dx + width] for dy in range(3) for dx in range(3)], axis=1)
    # columns: (C, 9, H, W); w: (O, C, 3, 3)
    return np.einsum("ckhw,ock->ohw", columns, w.reshape(w.shape[0], c, 9)) + b[:, None, None]


def np_maxpool(x: np.ndarray) -> np.ndarray:
    c, h, w = x.shape
    out_h, out_w = math.ceil(h / 2), math.ceil(w / 2)
    padded = np.full((c, out_h * 2, out_w * 2), -np.inf)
    padded[:, :h, :w] = x
    return padded.reshape(c, out_h, 2, out_w, 2).max(axis=(2, 4))


def np_stage(weights: dict, image: np.ndarray, n: int, previous: np.ndarray | None = None):
    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    fc = lambda name, v: weights[name][0] @ v + weights[name][1]  # noqa: E731
    x = image.astype(np.float64)
    for block, count in enumerate(VGG16_BLOCKS, start=1):
        for i in range(1, count + 1):
            x = relu(np_conv3x3(x, *weights[f"conv{block}_{i}"]))
        x = np_maxpool(x)
    fc6 = fc("fc6", x.ravel())
    if previous is None:
        top = relu(fc("fc7", relu(fc6)))
    else:
        top = relu(fc("fc7_pre", relu(np.concatenate([fc6, fc("fc_pre", previous)]))))
    visibility = np.stack([fc(f"fc8_visibility_{i}", top) for i in range(1, n + 1)])
    return fc("fc8_landmarks", top), visibility


def np_dfa(weights: dict, photo: np.ndarray, box: Box, garment_type: str, size: int):
    """Pre-processing, the four networks and the decoding, as the issue states the authors' demo does them."""
    n = NUM_LANDMARKS[garment_type]
    x0, y0, x1, y1 = math.floor(box.x0), math.floor(box.y0), math.ceil(box.x1), math.ceil(box.y1)
    crop = photo[y0:y1, x0:x1]
    h, w = crop.shape[:2]
    scale = size / max(h, w)
    new_w, new_h = round(w * scale), round(h * scale)
    resized = np.asarray(Image.fromarray(crop).resize((new_w, new_h), Image.BICUBIC))
    pad_left, pad_top = (size - new_w) // 2, (size - new_h) // 2
    canvas = np.zeros((size, size, 3))
    canvas[pad_top : pad_top + new_h, pad_left : pad_left + new_w] = resized
    image = (canvas[..., ::-1] - np.array(BGR_MEANS)).transpose(2, 0, 1)
    l1, _ = np_stage(weights["stage1"], image, n)
    out2, _ = np_stage(weights["stage2"], image, n, l1)
    l2 = l1 - out2 / 5
    out_easy, vis_easy = np_stage(weights["stage3_easy"], image, n, l2)
    out_hard, vis_hard = np_stage(weights["stage3_hard"], image, n, l2)
    l3 = (l2 - (out_easy / 5 + out_hard / 5) / 2).reshape(n, 2)
    x = ((l3[:, 0] + 0.5) * size - pad_left) / scale + x0
    y = ((l3[:, 1] + 0.5) * size - pad_top) / scale + y0
    return np.stack([x, y], axis=1), (vis_easy + vis_hard).argmax(-1)


# --- tests -----------------------------------------------------------------------------------------------


def test_reader_decodes_new_and_legacy_files_exactly(imported):
    source, _, weights = imported
    new_style = read_caffemodel(source / "FLD_upper" / "stage1.caffemodel")
    legacy = read_caffemodel(source / "FLD_upper" / "stage2.caffemodel")
    assert new_style.name == "DFA_upper_stage1"
    assert new_style.weighted_layers()["conv3_2"].type == "Convolution"
    assert legacy.weighted_layers()["fc_pre"].type == "InnerProduct"
    np.testing.assert_array_equal(new_style.weighted_layers()["conv3_2"].blobs[0], weights["upper"]["stage1"]["conv3_2"][0])
    # Old files keep (1, 1, out, in): the values are the same, the importer reshapes them.
    fc_pre = legacy.weighted_layers()["fc_pre"].blobs[0]
    assert fc_pre.shape == (1, 1, *weights["upper"]["stage2"]["fc_pre"][0].shape)
    np.testing.assert_array_equal(fc_pre[0, 0], weights["upper"]["stage2"]["fc_pre"][0])
    assert "relu_fc6" in [layer.name for layer in new_style.layers]  # weightless layers are read and skipped


def test_import_writes_checked_weights_and_a_manifest(imported):
    _, out, _ = imported
    manifest = read_manifest(out)
    assert sorted(manifest["types"]) == ["full", "lower", "upper"]
    for entry in manifest["types"].values():
        assert (out / entry["weights_file"]).is_file()
        assert set(entry["caffemodel_sha256"]) == set(STAGES)


@pytest.mark.parametrize("garment_type", ["upper", "lower", "full"])
def test_plugin_equals_a_numpy_computation_of_the_network(imported, garment_type):
    _, out, weights = imported
    aligner = DfaVgg16Aligner(weights=out)
    rng = np.random.default_rng(42)
    photo = rng.integers(0, 256, size=(90, 70, 3), dtype=np.uint8)
    boxes = [Box(5.4, 8.2, 61.0, 80.7), Box(20, 10, 50, 30)]  # a tall box and a wide one (padding on each axis)
    detections = [Detection(box, GarmentType(garment_type), 1.0) for box in boxes]
    crops = GarmentCrops.from_detections(photo, detections, 224)
    landmarks = aligner.align_crops(crops)
    columns = [SLOT_INDEX[s] for s in SLOTS_BY_TYPE[GarmentType(garment_type)]]
    for box, result in zip(boxes, landmarks):
        expected_points, expected_visibility = np_dfa(weights[garment_type], photo, box, garment_type, SMALL.input_size)
        np.testing.assert_allclose(result.points[columns], expected_points, rtol=1e-4, atol=1e-3)
        np.testing.assert_array_equal(result.visibility[columns], expected_visibility)
        others = np.setdiff1d(np.arange(8), columns)
        assert (result.visibility[others] == Visibility.ABSENT).all()
        assert result.stage_points.shape == (3, 8, 2)


def test_a_wrong_shape_names_the_layer(tmp_path):
    weights = write_published_folder(tmp_path / "src", "lower", seed=3, legacy_stages=())
    bad = dict(weights["stage3_hard"])
    w, b = bad["fc8_visibility_2"]
    bad["fc8_visibility_2"] = (w[:2], b[:2])  # 2 classes instead of 3
    write_caffemodel(tmp_path / "src" / "FLD_lower" / "stage3_hard.caffemodel", "DFA_lower_stage3_hard", bad)
    with pytest.raises(CaffeImportError, match=r"stage3_hard.caffemodel: layer fc8_visibility_2 weights have shape \(2, 24\), expected \(3, 24\)"):
        import_caffemodels(tmp_path / "src", tmp_path / "out", config=SMALL, progress=lambda m: None)
    assert not (tmp_path / "out" / MANIFEST).exists()


def test_swapped_or_missing_files_are_refused(tmp_path):
    weights = write_published_folder(tmp_path / "src", "upper", seed=4, legacy_stages=())
    # A lower model's stage 1 in the upper folder: its visibility heads do not match (4 instead of 6).
    lower = DfaStage(SMALL, NUM_LANDMARKS["lower"], False, 20)
    write_caffemodel(tmp_path / "src" / "FLD_upper" / "stage1.caffemodel", "DFA_lower_stage1",
                     random_weights(lower, np.random.default_rng(0)))
    with pytest.raises(CaffeImportError, match="DFA_lower_stage1"):
        import_caffemodels(tmp_path / "src", tmp_path / "out", config=SMALL, progress=lambda m: None)
    (tmp_path / "src" / "FLD_upper" / "stage3_easy.caffemodel").unlink()
    with pytest.raises(FileNotFoundError, match="stage3_easy.caffemodel"):
        import_caffemodels(tmp_path / "src", tmp_path / "out", config=SMALL, progress=lambda m: None)
    assert weights  # the folder was really written


def test_truncated_caffemodel_is_a_clear_error(tmp_path, capsys):
    write_published_folder(tmp_path / "src", "full", seed=5, legacy_stages=())
    path = tmp_path / "src" / "FLD_full" / "stage2.caffemodel"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CaffeModelError, match="stage2.caffemodel: truncated"):
        read_caffemodel(path)
    assert engine_main(["import-caffemodel", str(tmp_path / "src"), "--out", str(tmp_path / "out")]) == 2
    assert "truncated" in capsys.readouterr().err


def test_plugin_without_weights_says_how_to_import(tmp_path):
    with pytest.raises(FileNotFoundError, match="import-caffemodel"):
        DfaVgg16Aligner(weights=tmp_path)
