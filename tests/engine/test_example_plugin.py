"""The example third-party plugin: installed as a package, discovered, selected, and true to the contract."""
from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import registry
from engine.contracts import Extractor, Role
from engine.types import Box, Detection, GarmentType, Landmarks, Visibility

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = REPO_ROOT / "examples" / "streetshop-example-plugin"
DISTRIBUTION = "streetshop-example-plugin"
V, O, A = Visibility.VISIBLE, Visibility.OCCLUDED, Visibility.ABSENT


@pytest.fixture(scope="module", autouse=True)
def example_installed():
    """Install the example (editable, from this checkout) into the running venv unless it already is."""
    if not _installed_from_this_checkout():
        command = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-e", str(EXAMPLE_DIR)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(f"could not install the example plugin:\n{done.stdout}\n{done.stderr}")
        importlib.invalidate_caches()
    with pytest.MonkeyPatch.context() as patch:
        try:
            importlib.import_module("streetshop_example_plugin")
        except ImportError:  # installed by this very process: its .pth file is read only at start-up
            patch.syspath_prepend(str(EXAMPLE_DIR))
        yield


@pytest.fixture(autouse=True)
def clean_configuration(monkeypatch):
    monkeypatch.delenv("STREETSHOP_EXTRACTOR", raising=False)
    registry.reset_configuration()
    yield
    registry.reset_configuration()


def _installed_from_this_checkout() -> bool:
    try:
        distribution = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return False
    direct_url = json.loads(distribution.read_text("direct_url.json") or "{}")
    return direct_url.get("url", "").rstrip("/") == EXAMPLE_DIR.as_uri()


# ----------------------------------------------------------------------------- discovery and selection


def test_declared_as_an_entry_point():
    entry_points = importlib.metadata.entry_points(group=registry.ENTRY_POINT_GROUP)
    entry_point = next(ep for ep in entry_points if ep.name == "color_histogram")
    assert entry_point.value == "streetshop_example_plugin:ColorHistogramExtractor"
    assert entry_point.dist.name == DISTRIBUTION


def test_discovered_by_the_registry():
    cls = registry.plugin_class("color_histogram", Role.EXTRACTOR)
    assert issubclass(cls, Extractor)
    assert cls.info.name == "color_histogram" and cls.info.role == Role.EXTRACTOR
    assert cls.info.embedding_dim == 256 and cls.info.metric == "cosine"
    assert cls.info.weights_file is None and registry.verify_weights(cls) is None


def test_selected_by_environment_variable(monkeypatch):
    from streetshop_example_plugin import ColorHistogramExtractor

    monkeypatch.setenv("STREETSHOP_EXTRACTOR", "color_histogram")
    assert registry.configured_name("extractor") == "color_histogram"
    assert isinstance(registry.load_plugin("extractor"), ColorHistogramExtractor)


def test_selected_by_environment_variable_in_a_fresh_process():
    code = "from engine.registry import load_plugin; print(load_plugin('extractor').info.key)"
    env = {**os.environ, "STREETSHOP_EXTRACTOR": "color_histogram"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "color_histogram@1.0"


# ----------------------------------------------------------------------------- the extractor contract


def _photo(seed=0, width=240, height=320):
    rng = np.random.default_rng(seed)
    photo = np.zeros((height, width, 3), np.uint8)
    photo[: height // 2] = rng.integers(0, 256, 3)  # two colour blocks plus noise
    photo[height // 2 :] = rng.integers(0, 256, 3)
    noise = rng.integers(-20, 21, photo.shape)
    return np.clip(photo.astype(int) + noise, 0, 255).astype(np.uint8)


def _garment(points_shift=0.0):
    detection = Detection(Box(20, 30, 220, 300), GarmentType.UPPER, 0.9)
    points = np.array([[80, 50], [160, 50], [30, 120], [210, 120], [0, 0], [0, 0], [60, 280], [180, 280]], np.float32)
    points[:, 1] += points_shift
    landmarks = Landmarks(points, [V, V, O, V, A, A, V, V])
    return detection, landmarks


@pytest.fixture(scope="module")
def extractor():
    return registry.load_plugin("extractor", "color_histogram")


def test_embeddings_are_unit_float32_of_the_declared_size(extractor):
    detection, landmarks = _garment()
    second = Detection(Box(0, 0, 240, 160), GarmentType.FULL, 0.5)
    no_landmarks = Landmarks(np.zeros((8, 2)), [A] * 8)
    embeddings = extractor.extract(_photo(), [detection, second], [landmarks, no_landmarks])
    assert len(embeddings) == 2
    for embedding in embeddings:
        assert embedding.vector.shape == (extractor.info.embedding_dim,)
        assert embedding.vector.dtype == np.float32
        assert np.isfinite(embedding.vector).all()
        assert abs(float(np.linalg.norm(embedding.vector)) - 1.0) < 1e-5
        assert embedding.model == "color_histogram@1.0"


def test_deterministic(extractor):
    detection, landmarks = _garment()
    first = extractor.extract(_photo(), [detection], [landmarks])[0].vector
    again = extractor.extract(_photo(), [detection], [landmarks])[0].vector
    np.testing.assert_array_equal(first, again)


def test_depends_on_the_colours_and_the_landmarks(extractor):
    detection, landmarks = _garment()
    base = extractor.extract(_photo(0), [detection], [landmarks])[0].vector
    other_photo = extractor.extract(_photo(1), [detection], [landmarks])[0].vector
    _, moved = _garment(points_shift=-20.0)
    other_landmarks = extractor.extract(_photo(0), [detection], [moved])[0].vector
    assert float(base @ other_photo) < 0.9
    half = len(base) // 2
    np.testing.assert_array_equal(base[:half] / np.linalg.norm(base[:half]), other_landmarks[:half] / np.linalg.norm(other_landmarks[:half]))
    assert not np.allclose(base[half:], other_landmarks[half:])


def test_no_detections(extractor):
    assert extractor.extract(_photo(), [], []) == []
