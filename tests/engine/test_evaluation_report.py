"""Evaluation figures as DeepFashion defines them, and ``python -m engine report`` end to end.

Hand-computed numbers for NE (DFA), the detection-rate curve, the top-k
curve, category top-k accuracy and attribute top-k recall; the Milvus search
backend against the exact one (one Milvus Lite server for the module); and
both reports written for a tiny synthetic data set.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine.evaluation.aligner import AlignerPredictions, aligner_metrics
from engine.evaluation.attributes import attribute_top_k_recall, category_top_k_accuracy, score_matrix
from engine.evaluation.landmarks import detection_rate_curve, per_image_ne, score_landmarks
from engine.evaluation.retrieval import curve_at, rank_gallery, ranked_item_ids, retrieval_curve, top_k_curve
from engine.data.deepfashion import LandmarkRecord
from engine.geometry import normalised_error
from engine.types import Box, Visibility

V, O, A = int(Visibility.VISIBLE), int(Visibility.OCCLUDED), int(Visibility.ABSENT)


# ----------------------------------------------------------------------------- landmarks


def hand_case():
    """Three garments: A (100 x 200 crop), B (50 x 50), C (no visible slot).

    A: slot 0 off by (3, 8) px -> (0.03, 0.04) -> 0.05; slot 1 off by (6, 16) -> (0.06, 0.08) -> 0.10;
       slot 2 occluded and 50 px off (must not count). NE 0.075.
    B: slot 4 off by (0, 5) -> (0, 0.1) -> 0.10; slot 5 absent and 40 px off. NE 0.10.
    C: everything occluded/absent, far off: no NE, left out.
    """
    target = np.zeros((3, 8, 2))
    target[:, :, 0] = 20
    target[:, :, 1] = 30
    predicted = target.copy()
    visibility = np.full((3, 8), A)
    predicted[0, 0] += (3, 8)
    predicted[0, 1] += (6, 16)
    predicted[0, 2] += (50, 0)
    visibility[0, :3] = (V, V, O)
    predicted[1, 4] += (0, 5)
    predicted[1, 5] += (40, 0)
    visibility[1, 4] = V
    predicted[2] += 30
    visibility[2, :4] = O
    sizes = np.array([(100, 200), (50, 50), (80, 80)], float)
    return predicted, target, visibility, sizes


def test_ne_counts_only_visible_landmarks_and_skips_images_without_any():
    predicted, target, visibility, sizes = hand_case()
    per_image = per_image_ne(predicted, target, visibility, sizes)
    assert per_image[:2] == pytest.approx([0.075, 0.10])
    assert math.isnan(per_image[2])
    for n in range(2):  # the same number as the training loop's single-garment NE
        assert per_image[n] == pytest.approx(
            normalised_error(predicted[n], target[n], visibility[n] == V, *sizes[n])
        )

    scores = score_landmarks(predicted, target, visibility, sizes, ["upper", "lower", "full"], [1, 2, 1])
    assert scores.ne == pytest.approx((0.075 + 0.10) / 2)  # not (0.05 + 0.10 + 0.10) / 3 over landmarks
    assert scores.scored_images == 2 and scores.images == 3 and scores.visible_landmarks == 3
    assert scores.per_slot["left_collar"] == pytest.approx(0.05)
    assert scores.per_slot["right_collar"] == pytest.approx(0.10)
    assert scores.per_slot["left_waistline"] == pytest.approx(0.10)
    assert math.isnan(scores.per_slot["left_sleeve"])  # occluded everywhere: no error, no count
    assert scores.per_type["upper"] == pytest.approx(0.075)
    assert scores.per_type["lower"] == pytest.approx(0.10)
    assert math.isnan(scores.per_type["full"]) and scores.type_counts == {"upper": 1, "lower": 1, "full": 0}
    assert scores.per_variation == pytest.approx({"normal": 0.075, "medium pose": 0.10})
    assert scores.variation_counts == {"normal": 1, "medium pose": 1}


def test_detection_rate_curve_is_exact_and_monotone():
    predicted, target, visibility, sizes = hand_case()
    # Visible landmarks lie sqrt(73) = 8.54, sqrt(292) = 17.09 and exactly 5 px from their labels.
    curve = detection_rate_curve(predicted, target, visibility)
    assert len(curve) == 21
    expected = [0] * 5 + [1 / 3] * 4 + [2 / 3] * 9 + [1] * 3  # d = 0..4, 5..8, 9..17, 18..20
    assert curve == pytest.approx(expected)
    assert np.all(np.diff(curve) >= 0)
    # Invisible landmarks are out of the curve too: making them perfect changes nothing.
    fixed = predicted.copy()
    fixed[visibility != V] = target[visibility != V]
    assert detection_rate_curve(fixed, target, visibility) == pytest.approx(curve)


def test_aligner_metrics_keep_the_evaluate_figures():
    predicted, target, visibility, sizes = hand_case()
    types = ["upper", "lower", "full"]
    records = [
        LandmarkRecord(f"/x/{n}.jpg", types[n], 1, target[n], visibility[n], Box(0, 0, *sizes[n])) for n in range(3)
    ]
    first_stage = target + np.array([1.0, 2.0])  # a uniform (1, 2) px error on every slot
    predicted_visibility = visibility.copy()
    predicted_visibility[0, 0] = O  # one wrong visibility among the upper garment's slots
    predictions = AlignerPredictions(
        records, np.stack([first_stage, predicted]), predicted_visibility, [r.box for r in records]
    )
    metrics = aligner_metrics(predictions)
    stage1_a = math.hypot(1 / 100, 2 / 200)
    stage1_b = math.hypot(1 / 50, 2 / 50)
    assert metrics["ne_stage1"] == pytest.approx((stage1_a + stage1_b) / 2, abs=1e-5)
    assert metrics["ne_stage2"] == metrics["ne"] == pytest.approx(0.0875, abs=1e-5)
    assert metrics["ne_upper"] == pytest.approx(0.075) and metrics["ne_lower"] == pytest.approx(0.1)
    assert math.isnan(metrics["ne_full"])
    assert metrics["visibility_accuracy"] == pytest.approx(17 / 18, abs=1e-5)  # 6 + 4 + 8 slots, one wrong
    assert metrics["garments"] == 3


# ----------------------------------------------------------------------------- retrieval


def test_top_k_curve_on_a_hand_made_ranking():
    rankings = [
        ["a", "b"],  # own item first
        ["a", "a", "b"],  # third
        ["b", "a", "a", "c"],  # fourth
        ["a", "b", "c"],  # item z is not in the gallery: never hits
    ]
    curve = top_k_curve(rankings, ["a", "b", "c", "z"], max_k=5)
    assert curve == pytest.approx([1 / 4, 1 / 4, 2 / 4, 3 / 4, 3 / 4])
    assert curve_at(curve, (1, 3, 50)) == {"top1": 0.25, "top3": 0.5, "top50": 0.75}


def test_exact_ranking_leaves_the_query_itself_out():
    gallery = np.array([[1, 0], [0.9, 0.1], [0, 1]], np.float32)
    ranking = rank_gallery(gallery[:1], gallery, k=5, exclude_self=[0])
    assert ranking.tolist() == [[1, 2, -1, -1, -1]]
    assert ranked_item_ids(ranking, ["x", "x", "y"]) == [["x", "y"]]
    assert retrieval_curve(gallery[:1], ["x"], gallery, ["x", "x", "y"], max_k=3, exclude_self=[0]) == pytest.approx(
        [1, 1, 1]
    )


@pytest.fixture(scope="module")
def milvus(tmp_path_factory):
    from engine.milvus_server import MilvusLiteServer

    with MilvusLiteServer(tmp_path_factory.mktemp("eval-milvus") / "data") as server:
        yield server


def test_milvus_and_exact_search_give_the_same_curve(milvus):
    rng = np.random.default_rng(7)
    gallery = rng.normal(size=(60, 16)).astype(np.float32)
    gallery_items = [i // 2 for i in range(60)]  # two images per item
    queries = gallery[::3] + 0.8 * rng.normal(size=(20, 16)).astype(np.float32)
    query_items = [gallery_items[i] for i in range(0, 60, 3)]
    exact = rank_gallery(queries, gallery, k=50)
    searched = rank_gallery(queries, gallery, k=50, backend="milvus", milvus_uri=milvus.uri)
    assert searched[:, :10].tolist() == exact[:, :10].tolist()
    exact_curve = retrieval_curve(queries, query_items, gallery, gallery_items)
    milvus_curve = retrieval_curve(queries, query_items, gallery, gallery_items, backend="milvus", milvus_uri=milvus.uri)
    assert milvus_curve == pytest.approx(exact_curve)
    assert 0 < exact_curve[0] < 1 and exact_curve[-1] == 1.0
    # Queries drawn from the gallery (in-shop): both leave the query itself out.
    selves = list(range(0, 60, 5))
    exact_self = rank_gallery(gallery[selves], gallery, k=20, exclude_self=selves)
    milvus_self = rank_gallery(gallery[selves], gallery, k=20, backend="milvus", exclude_self=selves, milvus_uri=milvus.uri)
    assert milvus_self[:, :10].tolist() == exact_self[:, :10].tolist()
    assert not any(s in row for s, row in zip(selves, milvus_self.tolist()))


# ----------------------------------------------------------------------------- category and attributes


def test_category_top_k_accuracy_on_hand_made_scores():
    scores = np.array(
        [
            [0.50, 0.20, 0.10, 0.10, 0.05, 0.05],  # label 0: rank 1
            [0.30, 0.25, 0.20, 0.15, 0.06, 0.04],  # label 3: rank 4
            [0.30, 0.25, 0.20, 0.15, 0.06, 0.04],  # label 5: rank 6
            [0.10, np.nan, 0.50, 0.20, 0.15, 0.05],  # label 1: no score, never in the top k
        ]
    )
    result = category_top_k_accuracy(scores, [0, 3, 5, 1])
    assert result == pytest.approx({"category_top3": 1 / 4, "category_top5": 2 / 4})


def test_attribute_top_k_recall_pools_positive_labels_over_the_set():
    scores = np.array(
        [
            [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3],
            [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
            [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
        ]
    )
    labels = np.array(
        [
            [1, 0, 0, 1, 0, 0, 1],  # positives at ranks 1, 4, 7: 1 in the top 3, 2 in the top 5
            [0, 0, 0, 0, 1, 1, 0],  # positives at ranks 3, 2: both in the top 3
            [0, 0, 0, 0, 0, 0, 0],  # no positive: adds nothing
        ]
    )
    result = attribute_top_k_recall(scores, labels)
    assert result == pytest.approx({"attribute_top3": 3 / 5, "attribute_top5": 4 / 5})
    # Attributes an extractor does not report (NaN) are never retrieved.
    matrix = score_matrix([{"a": 0.9}, {"b": 0.8, "c": 0.7}], ["a", "b", "c", "d"])
    assert np.isnan(matrix[0, 1:]).all() and matrix[1, 1] == pytest.approx(0.8)
    result = attribute_top_k_recall(matrix, np.array([[1, 0, 0, 1], [0, 0, 1, 1]]), ks=(3,))
    assert result == pytest.approx({"attribute_top3": 2 / 4})


# ----------------------------------------------------------------------------- reports


@pytest.fixture(scope="module")
def tiny_sets(tmp_path_factory):
    from engine.data.synthetic import generate_consumer2shop, generate_fld

    root = tmp_path_factory.mktemp("report-data")
    fld = generate_fld(root / "fld", 6, seed=11, workers=1, progress=False)
    c2s = generate_consumer2shop(root / "c2s", 4, consumer_per_item=2, seed=12, workers=1, progress=False)
    return fld, c2s


def _is_png(path) -> bool:
    return path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 2000


def test_aligner_report_end_to_end(tiny_sets, tmp_path, capsys):
    from engine.cli import main

    fld, _ = tiny_sets
    out = tmp_path / "aligner"
    assert main(["report", "aligner", str(fld), "--out", str(out), "--device", "cpu", "--quiet", "--examples", "2"]) == 0
    assert "report written to" in capsys.readouterr().out
    for name in ("detection_rate.png", "best_1.png", "best_2.png", "worst_1.png", "worst_2.png"):
        assert _is_png(out / name), name
    metrics = json.loads((out / "metrics.json").read_text())
    report = (out / "report.md").read_text()
    assert report.startswith("# Aligner report")
    assert "python -m engine report aligner" in report and "cascade_cnn@" in report and str(fld) in report
    assert "garments 6" in report
    assert f"| NE | {metrics['ne']:.4f} |" in report
    assert f"| visibility accuracy | {100 * metrics['visibility_accuracy']:.1f}% |" in report
    for slot, value in metrics["ne_per_slot"].items():
        if value is not None:
            assert f"| {slot.replace('_', ' ')} | {value:.4f} |" in report
    for group in ("ne_per_type", "ne_per_variation"):
        for name, value in metrics[group].items():
            assert f"| {name} | {value:.4f} |" in report if value is not None else f"| {name} | n/a |" in report
    rates = metrics["detection_rate"]
    assert len(rates) == 21 and all(a <= b for a, b in zip(list(rates.values()), list(rates.values())[1:]))
    assert f"{100 * rates['20']:.1f}% |" in report
    for name in ("detection_rate.png", "best_1.png", "worst_2.png"):
        assert f"]({name})" in report


def test_extractor_report_end_to_end_through_milvus(tiny_sets, tmp_path, milvus):
    from engine.cli import main

    _, c2s = tiny_sets
    out = tmp_path / "extractor"
    argv = ["report", "extractor", str(c2s), "--out", str(out), "--device", "cpu", "--quiet",
            "--index", "milvus", "--milvus-uri", milvus.uri]
    assert main(argv) == 0
    assert _is_png(out / "topk.png")
    metrics = json.loads((out / "metrics.json").read_text())
    report = (out / "report.md").read_text()
    assert report.startswith("# Extractor report") and "fashionnet@" in report and "--index milvus" in report
    assert metrics["c2s_queries"] == 8 and metrics["c2s_gallery"] == 4 and metrics["backend"] == "milvus"
    curve = metrics["consumer-to-shop_curve"]
    assert len(curve) == 50 and curve[3] == 1.0  # 4 shop images: every query hits by k = 4
    row = "| consumer-to-shop | 8 | 4 | " + " | ".join(f"{100 * curve[k - 1]:.1f}%" for k in (1, 5, 10, 20, 50)) + " |"
    assert row in report
    assert "In-shop retrieval was not measured" in report  # one shop image per item
    for k in (3, 5):
        assert f"| category top-{k} accuracy | {100 * metrics[f'category_top{k}']:.1f}% | 12 |" in report
        assert f"| attribute top-{k} recall | {100 * metrics[f'attribute_top{k}']:.1f}% | 12 |" in report


def test_extractor_report_on_an_inshop_folder(tiny_sets, tmp_path):
    """An In-shop layout (made from the consumer-to-shop images): its query split searches its gallery."""
    import shutil

    from engine.cli import main
    from engine.data.sources import retrieval_set

    _, c2s = tiny_sets
    root = tmp_path / "inshop"
    shutil.copytree(c2s / "img", root / "img")
    images = retrieval_set(c2s).images
    names = [i.image_path.relative_to(c2s).as_posix() for i in images]
    (root / "Anno").mkdir()
    (root / "Eval").mkdir()
    boxes = [f"{n} {i.garment_type.fld_code} 1 {i.box.x0:g} {i.box.y0:g} {i.box.x1:g} {i.box.y1:g}" for n, i in zip(names, images)]
    (root / "Anno/list_bbox_inshop.txt").write_text(
        f"{len(boxes)}\nimage_name clothes_type pose_type x_1 y_1 x_2 y_2\n" + "\n".join(boxes) + "\n"
    )
    rows = [f"{n} {i.item_id} {'query' if i.source == 'consumer' else 'gallery'}" for n, i in zip(names, images)]
    (root / "Eval/list_eval_partition.txt").write_text(
        f"{len(rows)}\nimage_name item_id evaluation_status\n" + "\n".join(rows) + "\n"
    )
    out = tmp_path / "report"
    assert main(["report", "extractor", str(root), "--out", str(out), "--device", "cpu", "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    report = (out / "report.md").read_text()
    assert metrics["inshop_queries"] == 8 and metrics["inshop_gallery"] == 4 and metrics["backend"] == "exact"
    curve = metrics["in-shop_curve"]
    assert curve[3] == 1.0 and "consumer-to-shop_curve" not in metrics
    assert "| in-shop | 8 | 4 | " + " | ".join(f"{100 * curve[k - 1]:.1f}%" for k in (1, 5, 10, 20, 50)) + " |" in report
    assert "query' split searches the 'gallery' split" in report and _is_png(out / "topk.png")
