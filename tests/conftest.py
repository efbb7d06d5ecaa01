"""Shared fixtures: tiny synthetic data sets made by the tests themselves (session-scoped, seconds)."""
from __future__ import annotations

import pytest

from engine.data.synthetic import generate_consumer2shop, generate_fld


@pytest.fixture(scope="session")
def tiny_fld(tmp_path_factory):
    return generate_fld(tmp_path_factory.mktemp("fld"), 24, seed=123, workers=1, progress=False)


@pytest.fixture(scope="session")
def tiny_c2s(tmp_path_factory):
    return generate_consumer2shop(
        tmp_path_factory.mktemp("c2s"), 10, consumer_per_item=2, seed=321, workers=1, split="train"
    )
