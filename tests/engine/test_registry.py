"""The plugin registry: discovery through (fake) entry points, selection, errors, weights checks."""
from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import sys
import textwrap
from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from engine import registry
from engine.contracts import Detector, PluginInfo, Role

FAKE_MODULE = "fake_streetshop_plugins"
BROKEN_MODULE = "fake_streetshop_broken"
WEIGHTS_BYTES = b"pretend these are weights\n" * 100

FAKE_SOURCE = '''
from engine.contracts import Aligner, Detector, Extractor, PluginInfo, Role
from engine.types import Embedding

class FakeDetector(Detector):
    info = PluginInfo("fake_detector", "1.0", Role.DETECTOR, devices=("cpu", "cuda"))
    def detect_one(self, image, hint=None):
        return []

class FakeAligner(Aligner):
    info = PluginInfo("fake_aligner", "2.0", Role.ALIGNER,
                      weights_file="fake_weights.bin", weights_sha256="{sha}")
    def align_crops(self, crops, features=None):
        return []

class FakeExtractor(Extractor):
    info = PluginInfo("fake_extractor", "0.3", Role.EXTRACTOR, embedding_dim=4, metric="cosine")
    def extract_crops(self, crops, landmarks, features=None):
        return [Embedding([1, 0, 0, 0], self.info.key) for _ in range(len(crops))]

class Misnamed(Detector):
    info = PluginInfo("not_the_entry_point_name", "1.0", Role.DETECTOR)
    def detect_one(self, image, hint=None):
        return []

class NotAPlugin:
    pass
'''


@dataclass
class FakeEntryPoint:
    """Quacks like importlib.metadata.EntryPoint, with a distribution attached."""

    name: str
    value: str
    dist_name: str = "fake-dist"
    group: str = registry.ENTRY_POINT_GROUP

    @property
    def dist(self):
        return SimpleNamespace(name=self.dist_name)

    def load(self):
        return importlib.metadata.EntryPoint(self.name, self.value, self.group).load()


FAKE_ENTRY_POINTS = [
    FakeEntryPoint("fake_detector", f"{FAKE_MODULE}:FakeDetector"),
    FakeEntryPoint("fake_aligner", f"{FAKE_MODULE}:FakeAligner"),
    FakeEntryPoint("fake_extractor", f"{FAKE_MODULE}:FakeExtractor", dist_name="other-dist"),
    FakeEntryPoint("broken_one", f"{BROKEN_MODULE}:Whatever", dist_name="broken-dist"),
]


@pytest.fixture(scope="module")
def fake_plugin_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fake_plugins")
    (directory / "fake_weights.bin").write_bytes(WEIGHTS_BYTES)
    sha = hashlib.sha256(WEIGHTS_BYTES).hexdigest()
    (directory / f"{FAKE_MODULE}.py").write_text(textwrap.dedent(FAKE_SOURCE).replace("{sha}", sha))
    (directory / f"{BROKEN_MODULE}.py").write_text("raise ImportError('simulated: this plugin needs package frobnicate')\n")
    return directory


@pytest.fixture
def fake_entry_points(monkeypatch, fake_plugin_dir):
    """Only the fake entry points are installed; no configuration, no STREETSHOP_* variables."""
    monkeypatch.syspath_prepend(str(fake_plugin_dir))
    entry_points = list(FAKE_ENTRY_POINTS)

    def entry_points_for(group=None, **kwargs):
        return [ep for ep in entry_points if ep.group == group]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points_for)
    for variable in registry.ENV_VARS.values():
        monkeypatch.delenv(variable, raising=False)
    registry.reset_configuration()
    yield entry_points
    registry.reset_configuration()
    sys.modules.pop(FAKE_MODULE, None)


# ----------------------------------------------------------------------------- discovery


def test_available_lists_entry_point_plugins_and_broken_ones(fake_entry_points):
    entries = {entry.name: entry for entry in registry.available()}
    assert set(entries) == {"fake_detector", "fake_aligner", "fake_extractor", "broken_one"}
    extractor = entries["fake_extractor"]
    assert (extractor.role, extractor.version, extractor.distribution) == (Role.EXTRACTOR, "0.3", "other-dist")
    assert extractor.module == f"{FAKE_MODULE}:FakeExtractor"
    assert extractor.info.embedding_dim == 4 and not extractor.broken
    broken = entries["broken_one"]
    assert broken.broken and broken.role is None and broken.info is None
    for part in ("broken-dist", "'broken_one'", "frobnicate", "ImportError"):
        assert part in broken.error


def test_available_filters_by_role(fake_entry_points):
    assert [e.name for e in registry.available("aligner")] == ["fake_aligner"]
    assert [e.name for e in registry.available(Role.DETECTOR)] == ["fake_detector"]


def test_entry_point_name_must_equal_info_name(fake_entry_points):
    fake_entry_points.append(FakeEntryPoint("misnamed", f"{FAKE_MODULE}:Misnamed"))
    entry = next(e for e in registry.available() if e.name == "misnamed")
    assert entry.broken and "not_the_entry_point_name" in entry.error and "info.name" in entry.error
    with pytest.raises(registry.PluginLoadError, match="info.name"):
        registry.plugin_class("misnamed")


def test_entry_point_that_is_not_a_plugin_class_is_broken(fake_entry_points):
    fake_entry_points.append(FakeEntryPoint("not_a_plugin", f"{FAKE_MODULE}:NotAPlugin"))
    entry = next(e for e in registry.available() if e.name == "not_a_plugin")
    assert entry.broken and "not a subclass" in entry.error


def test_loading_a_broken_plugin_names_distribution_entry_point_and_error(fake_entry_points):
    with pytest.raises(registry.PluginLoadError) as caught:
        registry.plugin_class("broken_one")
    message = str(caught.value)
    assert "broken-dist" in message and "broken_one" in message and "frobnicate" in message
    # The other plugins still work.
    assert registry.plugin_class("fake_detector").info.name == "fake_detector"


def test_plugin_class_and_load_plugin(fake_entry_points):
    cls = registry.plugin_class("fake_extractor", "extractor")
    assert cls.__name__ == "FakeExtractor"
    plugin = registry.load_plugin("extractor", "fake_extractor")
    assert isinstance(plugin, cls) and plugin.device == "cpu"
    assert registry.load_plugin(Role.DETECTOR, "fake_detector", device="cuda:1").device == "cuda:1"


def test_unsupported_device_is_a_clear_error(fake_entry_points):
    with pytest.raises(registry.UnsupportedDeviceError, match="runs on cpu, not on 'cuda'"):
        registry.load_plugin("extractor", "fake_extractor", device="cuda")


def test_same_name_from_two_distributions_is_ambiguous(fake_entry_points):
    fake_entry_points.append(FakeEntryPoint("fake_detector", f"{FAKE_MODULE}:FakeDetector", "copy-dist"))
    with pytest.raises(registry.AmbiguousPluginError, match="uninstall"):
        registry.plugin_class("fake_detector")


# ----------------------------------------------------------------------------- selection


def test_defaults_env_and_configure(fake_entry_points, monkeypatch):
    assert registry.configured_name("detector") == "pose"
    assert registry.configured_name("aligner") == "cascade_cnn"
    assert registry.configured_name("extractor") == "fashionnet"
    monkeypatch.setenv("STREETSHOP_ALIGNER", "fake_aligner")
    assert registry.configured_name(Role.ALIGNER) == "fake_aligner"
    registry.configure(aligner="from_python")
    assert registry.configured_name("aligner") == "from_python"
    assert registry.selection().aligner == "from_python"
    registry.reset_configuration()
    assert registry.configured_name("aligner") == "fake_aligner"


def test_load_plugin_uses_the_environment(fake_entry_points, monkeypatch):
    monkeypatch.setenv("STREETSHOP_EXTRACTOR", "fake_extractor")
    assert registry.load_plugin("extractor").info.name == "fake_extractor"


def test_load_plugin_uses_configure(fake_entry_points, monkeypatch):
    monkeypatch.setenv("STREETSHOP_DETECTOR", "no_such_detector")
    registry.configure(detector="fake_detector")
    assert registry.load_plugin("detector").info.name == "fake_detector"


def test_unknown_plugin_lists_installed_names(fake_entry_points):
    with pytest.raises(registry.UnknownPluginError) as caught:
        registry.load_plugin("aligner", "x")
    assert str(caught.value) == (
        "no plugin 'x' for role aligner; installed: fake_aligner; "
        "install a package that provides it or set STREETSHOP_ALIGNER to one of them"
    )


def test_unknown_configured_plugin_is_reported(fake_entry_points, monkeypatch):
    monkeypatch.setenv("STREETSHOP_EXTRACTOR", "nope")
    with pytest.raises(registry.UnknownPluginError, match="no plugin 'nope' for role extractor; installed: fake_extractor"):
        registry.load_plugin("extractor")


def test_wrong_role(fake_entry_points):
    with pytest.raises(registry.WrongRoleError) as caught:
        registry.load_plugin("aligner", "fake_detector")
    message = str(caught.value)
    assert "'fake_detector' is a detector" in message and "fake_aligner" in message
    assert isinstance(caught.value, registry.PluginError)


def test_unknown_role():
    with pytest.raises(ValueError, match="unknown plugin role 'painter'"):
        registry.configured_name("painter")


# ----------------------------------------------------------------------------- register()


class RegisteredDetector(Detector):
    info = PluginInfo("registered_detector", "0.1", Role.DETECTOR)

    def detect_one(self, image, hint=None):
        return []


def test_register_without_entry_points(fake_entry_points):
    registry.register(RegisteredDetector)
    entry = next(e for e in registry.available("detector") if e.name == "registered_detector")
    assert entry.distribution == "(registered)"
    registry.configure(detector="registered_detector")
    assert isinstance(registry.load_plugin("detector"), RegisteredDetector)
    registry.reset_configuration()
    with pytest.raises(registry.UnknownPluginError):
        registry.plugin_class("registered_detector")


def test_register_refuses_a_second_class_of_the_same_name(fake_entry_points):
    registry.register(RegisteredDetector)
    other = type("OtherDetector", (RegisteredDetector,), {})
    with pytest.raises(registry.PluginError, match="already registered"):
        registry.register(other)
    registry.register(other, replace=True)
    assert registry.plugin_class("registered_detector") is other


def test_register_shadows_an_installed_plugin(fake_entry_points):
    shadow = type("Shadow", (RegisteredDetector,), {"info": PluginInfo("fake_detector", "9.9", Role.DETECTOR)})
    registry.register(shadow)
    assert registry.plugin_class("fake_detector") is shadow


def test_register_refuses_incomplete_classes():
    class Abstract(Detector):
        info = PluginInfo("abstract", "1", Role.DETECTOR)

    with pytest.raises(registry.PluginLoadError, match="does not implement detect"):
        registry.register(Abstract)


# ----------------------------------------------------------------------------- weights


def _plugin_with_weights(path, sha):
    info = PluginInfo("weighted", "1.0", Role.DETECTOR, weights_file=str(path), weights_sha256=sha)
    return type("Weighted", (RegisteredDetector,), {"info": info})


def test_sha256_file(tmp_path):
    path = tmp_path / "w.bin"
    path.write_bytes(b"x" * 3_000_000)
    assert registry.sha256_file(path, chunk_size=4096) == hashlib.sha256(b"x" * 3_000_000).hexdigest()


def test_verify_weights_ok_absolute(tmp_path):
    path = tmp_path / "w.pt"
    path.write_bytes(b"weights")
    cls = _plugin_with_weights(path, hashlib.sha256(b"weights").hexdigest().upper())
    assert registry.verify_weights(cls) == path
    assert registry.weights_status(cls) == "ok"


def test_verify_weights_relative_to_the_plugin_module(fake_entry_points, fake_plugin_dir):
    cls = registry.plugin_class("fake_aligner")
    assert registry.verify_weights(cls) == fake_plugin_dir.resolve() / "fake_weights.bin"
    registry.load_plugin("aligner", "fake_aligner")


def test_checksum_mismatch(tmp_path):
    path = tmp_path / "w.pt"
    path.write_bytes(b"other weights")
    expected = "0" * 64
    cls = _plugin_with_weights(path, expected)
    with pytest.raises(registry.WeightsChecksumError) as caught:
        registry.verify_weights(cls)
    message = str(caught.value)
    assert str(path) in message and expected in message
    assert hashlib.sha256(b"other weights").hexdigest() in message
    assert "reinstall" in message and "retrain" in message
    assert registry.weights_status(cls) == "checksum mismatch"


def test_load_plugin_checks_weights_before_constructing(tmp_path):
    path = tmp_path / "w.pt"
    path.write_bytes(b"tampered")
    built = []
    cls = _plugin_with_weights(path, "0" * 64)
    cls.__init__ = lambda self, device="cpu": built.append(device)
    registry.register(cls)
    try:
        with pytest.raises(registry.WeightsChecksumError):
            registry.load_plugin("detector", "weighted")
    finally:
        registry.reset_configuration()
    assert built == []


def test_missing_weights(tmp_path):
    cls = _plugin_with_weights(tmp_path / "absent.pt", "0" * 64)
    with pytest.raises(registry.MissingWeightsError, match="absent.pt"):
        registry.verify_weights(cls)
    assert registry.weights_status(cls) == "missing"


def test_no_weights_file():
    assert registry.verify_weights(RegisteredDetector) is None
    assert registry.weights_status(RegisteredDetector) == "none"


def test_digest_is_cached_per_path_mtime_and_size(tmp_path, monkeypatch):
    path = tmp_path / "w.pt"
    path.write_bytes(b"weights")
    calls = []
    real = registry.sha256_file
    monkeypatch.setattr(registry, "sha256_file", lambda p, *a, **k: calls.append(p) or real(p, *a, **k))
    cls = _plugin_with_weights(path, hashlib.sha256(b"weights").hexdigest())
    registry.verify_weights(cls)
    registry.verify_weights(cls)
    assert len(calls) == 1
    path.write_bytes(b"weights, retrained")
    with pytest.raises(registry.WeightsChecksumError):
        registry.verify_weights(cls)
    assert len(calls) == 2


# ----------------------------------------------------------------------------- the plugins command


def test_plugin_table(fake_entry_points, monkeypatch):
    monkeypatch.setenv("STREETSHOP_ALIGNER", "fake_aligner")
    table = registry.format_plugin_table(registry.available())
    lines = table.splitlines()
    assert lines[0].split() == ["role", "name", "version", "distribution", "embedding", "devices", "weights"]
    aligner = next(line for line in lines if "fake_aligner" in line and line.startswith("*"))
    assert "2.0" in aligner and "fake-dist" in aligner and aligner.rstrip().endswith("ok")
    extractor = next(line for line in lines if " fake_extractor " in line)
    assert "4/cosine" in extractor and "other-dist" in extractor and extractor.rstrip().endswith("none")
    assert "cpu,cuda" in next(line for line in lines if " fake_detector " in line)
    assert any("broken" in line and "broken_one" in line for line in lines)
    assert any(line.startswith("! broken_one:") and "frobnicate" in line for line in lines)
    assert "configured detector 'pose' is not installed" in table


def test_print_plugins_json(fake_entry_points, monkeypatch):
    monkeypatch.setenv("STREETSHOP_DETECTOR", "fake_detector")
    monkeypatch.setenv("STREETSHOP_ALIGNER", "fake_aligner")
    monkeypatch.setenv("STREETSHOP_EXTRACTOR", "fake_extractor")
    stream = io.StringIO()
    assert registry.print_plugins(stream=stream, as_json=True) == 0
    payload = json.loads(stream.getvalue())
    assert payload["configured"] == {"detector": "fake_detector", "aligner": "fake_aligner", "extractor": "fake_extractor"}
    by_name = {plugin["name"]: plugin for plugin in payload["plugins"]}
    assert by_name["fake_aligner"]["weights_status"] == "ok"
    assert by_name["broken_one"]["error"] and by_name["broken_one"]["role"] is None


def test_print_plugins_fails_when_a_configured_plugin_is_missing(fake_entry_points):
    stream = io.StringIO()
    assert registry.print_plugins(stream=stream) == 1
    assert "fake_extractor" in stream.getvalue()


def test_plugin_table_warns_about_configured_plugins_without_weights(fake_entry_points, tmp_path):
    registry.register(_plugin_with_weights(tmp_path / "absent.pt", "0" * 64))
    registry.configure(detector="weighted")
    table = registry.format_plugin_table(registry.available())
    assert "warning: configured detector 'weighted' cannot load: weights missing" in table
    assert str(tmp_path / "absent.pt") in table
