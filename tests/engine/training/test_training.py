"""Tiny training runs: the losses go down, checkpoints load into the real plugins."""
from __future__ import annotations

import json

import numpy as np
import torch

from engine.checkpoints import load_checkpoint, save_checkpoint
from engine.contracts import GarmentCrops
from engine.data.sources import landmark_records, retrieval_set
from engine.imageio import load_image
from engine.models.cascade import CascadeConfig
from engine.models.fashionnet import FashionNetConfig
from engine.training.aligner import AlignerTrainingConfig, train_aligner
from engine.training.extractor import ExtractorTrainingConfig, build_embedding_set, train_extractor
from engine.training.landmark_set import LandmarkSource, build_combined_set, build_landmark_set
from engine.training.samples import Augmentation
from engine.types import Detection, Landmarks, Visibility
from plugins.cascade_cnn import CascadeCnnAligner
from plugins.fashionnet import FashionNetExtractor


def test_aligner_training_lowers_the_loss_and_its_checkpoint_loads_into_the_plugin(tiny_fld, tmp_path):
    records = landmark_records(tiny_fld)
    train_set = build_landmark_set(records, copies=2, augmentation=Augmentation.training(), joint_noise=True, progress=False)
    config = AlignerTrainingConfig(epochs=6, batch_size=16, lr=3e-3, model=CascadeConfig(hidden=32, refine_hidden=64))
    heads, history = train_aligner(train_set, config, {"train": build_landmark_set(records, progress=False)}, progress=False, log=lambda _: None)
    assert history[-1]["loss"] < 0.6 * history[0]["loss"]
    assert history[-1]["train/ne"] < history[0]["train/ne"]

    weights = tmp_path / "cascade.pt"
    meta = save_checkpoint(weights, heads.state_dict(), {"model": config.model.to_dict()}, {"epochs": 6})
    assert json.loads(weights.with_suffix(".json").read_text())["sha256"] == meta["sha256"]
    aligner = CascadeCnnAligner(weights=weights)
    record = records[0]
    image = load_image(record.image_path)
    landmarks = aligner.align(image, [Detection(record.box, record.garment_type, 1.0)])
    assert len(landmarks) == 1 and landmarks[0].points.shape == (8, 2)
    assert landmarks[0].stage_points.shape == (3, 8, 2)


def test_extractor_training_lowers_the_loss(tiny_c2s, tmp_path):
    data = retrieval_set(tiny_c2s)
    records = [i for i in data.images if i.points is not None]
    train_set = build_embedding_set(records, copies=1, landmark_noise=0.01, progress=False)
    model = FashionNetConfig(num_categories=len(data.category_names), num_attributes=len(data.attribute_names),
                             global_dim=64, landmark_dim=64, landmark_channels=16)
    config = ExtractorTrainingConfig(epochs=8, items_per_batch=10, lr=3e-3, model=model)
    heads, history = train_extractor(train_set, config, progress=False, log=lambda _: None)
    assert history[-1]["loss"] < 0.7 * history[0]["loss"]

    weights = tmp_path / "fashionnet.pt"
    extra = {"model": model.to_dict(), "category_names": data.category_names, "attribute_names": data.attribute_names}
    save_checkpoint(weights, heads.state_dict(), extra, {})
    state, config_back = load_checkpoint(weights)
    assert config_back["category_names"] == data.category_names
    extractor = FashionNetExtractor(weights=weights)
    image_record = records[0]
    image = load_image(image_record.image_path)
    crops = GarmentCrops.from_detections(image, [Detection(image_record.box, image_record.garment_type, 1.0)])
    [embedding] = extractor.extract_crops(crops, [Landmarks(image_record.points, image_record.visibility)])
    assert embedding.vector.shape == (model.embedding_dim,)
    assert embedding.category in data.category_names


def test_training_samples_flip_swaps_left_and_right(tiny_fld):
    from engine.training.samples import make_sample

    record = next(r for r in landmark_records(tiny_fld) if (r.visibility == Visibility.VISIBLE).sum() >= 4)
    image = load_image(record.image_path)
    plain = make_sample(image, record.box, record.garment_type, record.points, record.visibility)
    rng = np.random.default_rng(0)
    flipped = None
    for _ in range(10):  # flip happens with probability 1/2
        candidate = make_sample(image, record.box, record.garment_type, record.points, record.visibility,
                                augmentation=Augmentation(flip=True), rng=rng)
        if not np.allclose(candidate.canvas, plain.canvas):
            flipped = candidate
            break
    assert flipped is not None
    assert np.allclose(flipped.canvas, plain.canvas[:, ::-1])
    # left_collar of the mirror is the original right_collar, mirrored
    assert np.allclose(flipped.points[0], [1 - plain.points[1, 0], plain.points[1, 1]], atol=1e-5)
    # and the photo's left edge is now on the canvas's right
    assert flipped.edges.tolist() == plain.edges[[2, 1, 0, 3]].tolist()


def test_visibility_only_training_keeps_the_cascade_and_records_its_start(tiny_fld, tmp_path):
    """``train aligner --init C --visibility-only``: the landmark stages (weights and batch-norm
    statistics) come out exactly as they went in, the visibility head learns, and the checkpoint says
    which heads it started from."""
    from engine.cli import main as engine_main
    from engine.registry import sha256_file

    records = landmark_records(tiny_fld)
    train_set = build_landmark_set(records, progress=False)
    start_config = AlignerTrainingConfig(epochs=1, batch_size=16, model=CascadeConfig(hidden=32, refine_hidden=64,
                                                                                      visibility_pair=True))
    start, _ = train_aligner(train_set, start_config, progress=False, log=lambda _: None)
    initial = tmp_path / "start.pt"
    save_checkpoint(initial, start.state_dict(), {"model": start_config.model.to_dict()}, {"epochs": 1})

    out = tmp_path / "visibility.pt"
    code = engine_main(["train", "aligner", "--data", str(tiny_fld), "--init", str(initial), "--visibility-only",
                        "--epochs", "2", "--batch-size", "16", "--out", str(out), "--quiet", "--device", "cpu"])
    assert code == 0
    before, _ = load_checkpoint(initial)
    after, config = load_checkpoint(out)
    assert config["model"] == start_config.model.to_dict()
    landmark_keys = [k for k in before if not k.startswith("visibility.")]
    assert any("running_mean" in k for k in landmark_keys)
    for key in landmark_keys:
        torch.testing.assert_close(after[key], before[key], rtol=0, atol=1e-3, msg=key)  # float16 on disk
    assert any(not torch.allclose(after[k], before[k]) for k in before if k.startswith("visibility."))
    started_from = [d for d in json.loads(out.with_suffix(".json").read_text())["data"] if d["kind"].startswith("initial")]
    assert started_from == [{"path": str(initial), "sha256": sha256_file(initial),
                             "kind": "initial heads (landmarks frozen, visibility head trained)"}]


def test_visibility_only_training_needs_heads_to_start_from(tiny_fld, tmp_path, capsys):
    from engine.cli import main as engine_main

    code = engine_main(["train", "aligner", "--data", str(tiny_fld), "--visibility-only", "--out",
                        str(tmp_path / "x.pt"), "--quiet"])
    assert code != 0
    assert "--init" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


def test_a_combined_set_holds_each_source_as_if_built_alone_across_chunk_boundaries(tiny_fld):
    records = landmark_records(tiny_fld)
    first, second = records[:5], records[5:9]
    augmentation = Augmentation.training()
    combined = build_combined_set(
        [LandmarkSource(first, copies=2, seed=3), LandmarkSource(second, copies=1, seed=4)],
        augmentation, joint_noise=True, progress=False, chunk_size=4,  # chunks of 4 cross the sources' border
    )
    alone = [
        build_landmark_set(first, 2, augmentation, seed=3, joint_noise=True, progress=False),
        build_landmark_set(second, 1, augmentation, seed=4, joint_noise=True, progress=False),
    ]
    assert len(combined) == 14
    for name in ("points", "visibility", "garment_types", "joints", "box_sizes", "edges"):
        assert torch.equal(getattr(combined, name), torch.cat([getattr(s, name) for s in alone])), name
    for name, maps in combined.features.items():
        assert maps.dtype == torch.float16 and maps.shape[0] == 14
        assert torch.allclose(maps.float(), torch.cat([s.features[name] for s in alone]).float(), atol=1e-3), name
