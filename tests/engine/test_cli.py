"""The command line as a user runs it (subprocesses)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from engine.data.sources import retrieval_set


def engine(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, timeout=300, env=env)


def test_run_writes_overlay_and_json(tiny_c2s, tmp_path):
    photo = retrieval_set(tiny_c2s).images[0].image_path
    result = engine("run", str(photo), "--overlay", str(tmp_path / "o.png"), "--json", str(tmp_path / "o.json"),
                    "--detector", "full_image", "--hint", "full", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "garment 1: full" in result.stdout
    data = json.loads((tmp_path / "o.json").read_text())
    assert data["schema_version"] == 1 and len(data["garments"]) == 1
    assert set(data["garments"][0]["landmarks"]) == {
        "left_collar", "right_collar", "left_sleeve", "right_sleeve",
        "left_waistline", "right_waistline", "left_hem", "right_hem",
    }
    assert (tmp_path / "o.png").stat().st_size > 1000


def test_plugins_lists_the_built_ins_as_json():
    result = engine("plugins", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    names = {p["name"] for p in json.loads(result.stdout)["plugins"]}
    assert {"pose", "full_image", "cascade_cnn", "fashionnet"} <= names


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "{photo}", "--aligner", "no_such_aligner"], "no plugin 'no_such_aligner'"),
        (["run", "{broken}"], "not a readable image"),
        (["run", "{missing}"], "no such file"),
        (["evaluate", "aligner", "{tmp}"], "no landmark labels found"),
    ],
)
def test_user_errors_are_one_clear_line(args, message, tiny_c2s, tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    values = {
        "photo": str(retrieval_set(tiny_c2s).images[0].image_path),
        "broken": str(tmp_path / "broken.jpg"),
        "missing": str(tmp_path / "nope.jpg"),
        "tmp": str(tmp_path),
    }
    result = engine(*[a.format(**values) for a in args])
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_evaluate_aligner_prints_ne_per_stage_and_visibility(tiny_fld, tmp_path):
    env = {**os.environ, "STREETSHOP_INT8": "1"}
    result = engine("evaluate", "aligner", str(tiny_fld), "--json", str(tmp_path / "a.json"), "--quiet", "--device", "cpu",
                    env=env)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "a.json").read_text())["metrics"]
    assert {"ne_stage1", "ne_stage2", "ne_stage3", "ne", "visibility_accuracy"} <= set(metrics)
    assert 0 < metrics["ne"] < 0.5 and 0 <= metrics["visibility_accuracy"] <= 1
    assert "ne_stage3" in result.stdout
    evaluation = json.loads((tmp_path / "a.json").read_text())["evaluation"]
    assert evaluation.endswith("no joints, int8 layers")  # named so in the records


def test_evaluate_names_a_float32_run_plainly(tiny_fld, tmp_path):
    env = {**os.environ, "STREETSHOP_INT8": "0"}
    result = engine("evaluate", "aligner", str(tiny_fld), "--json", str(tmp_path / "a.json"), "--quiet", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "a.json").read_text())["evaluation"].endswith("no joints")


def test_evaluate_extractor_prints_top_k(tiny_c2s, tmp_path):
    result = engine("evaluate", "extractor", str(tiny_c2s), "--json", str(tmp_path / "e.json"), "--quiet", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "e.json").read_text())["metrics"]
    assert metrics["gallery_items"] == 10 and metrics["queries"] == 20
    assert 0 <= metrics["top1"] <= metrics["top5"] <= metrics["top20"] == 1.0
