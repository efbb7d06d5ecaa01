import numpy as np
import pytest

from engine.evaluation.retrieval import top_k_hit_rates


def test_hit_rates_rank_items_by_their_best_image():
    gallery = np.eye(4, dtype=np.float32)  # items a, b, c, c (item c has two images)
    items = ["a", "b", "c", "c"]
    queries = np.array(
        [
            [0.9, 0.1, 0.0, 0.0],  # item a: rank 1
            [0.5, 0.4, 0.0, 0.6],  # item b: c (0.6) and a (0.5) come first -> rank 3
            [0.1, 0.0, 0.0, 0.99],  # item c through its second image: rank 1
        ],
        np.float32,
    )
    rates = top_k_hit_rates(queries, ["a", "b", "c"], gallery, items, ks=(1, 2, 3))
    assert rates["top1"] == pytest.approx(2 / 3, abs=1e-4)
    assert rates["top2"] == pytest.approx(2 / 3, abs=1e-4)
    assert rates["top3"] == pytest.approx(1.0)
    assert rates["gallery_items"] == 3


def test_a_query_whose_item_is_not_in_the_gallery_never_hits():
    rates = top_k_hit_rates(np.eye(2, dtype=np.float32), ["a", "zzz"], np.eye(2, dtype=np.float32), ["a", "b"], ks=(1, 2))
    assert rates["top2"] == pytest.approx(0.5)


def test_empty_inputs_are_refused():
    with pytest.raises(ValueError, match="at least one query"):
        top_k_hit_rates(np.zeros((0, 2), np.float32), [], np.eye(2, dtype=np.float32), ["a", "b"])
