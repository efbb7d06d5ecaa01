"""What long runs on real data need: resuming a stopped run exactly, bfloat16 autocast, the per-epoch log,
and the real In-shop layout accepted by the train commands."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from engine.cli import main as engine_main
from engine.data.sources import landmark_records, retrieval_set
from engine.training.loop import RunControl, fit


class Stop(Exception):
    pass


def regression_problem(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 8, generator=generator)
    y = x @ torch.randn(8, 1, generator=generator) + 0.1

    def batches(epoch: int, shuffle: torch.Generator, stop_at: int | None = None):
        if stop_at is not None and epoch == stop_at:
            raise Stop  # the run is killed at the start of this epoch
        order = torch.randperm(64, generator=shuffle)
        for step in range(4):
            index = order[step * 16 : (step + 1) * 16]
            yield {"x": x[index], "y": y[index]}

    def loss_fn(model, batch):
        loss = ((model(batch["x"]) - batch["y"]) ** 2).mean()
        return loss, {"loss": float(loss.detach())}

    return batches, loss_fn


def train(batches, loss_fn, control: RunControl, epochs: int = 5, lr: float = 0.05):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    history = fit(model, batches, 4, loss_fn, epochs, lr, 0.01, seed=7, progress=False, log=lambda _: None, control=control)
    return model, history


def test_a_stopped_run_resumes_and_ends_as_an_uninterrupted_one(tmp_path):
    batches, loss_fn = regression_problem()
    whole, whole_history = train(batches, loss_fn, RunControl())

    control = RunControl(state_path=tmp_path / "run.state.pt", resume=True, log_path=tmp_path / "run.log.jsonl")
    with pytest.raises(Stop):
        train(lambda e, g: batches(e, g, stop_at=4), loss_fn, control)
    assert len(torch.load(control.state_path, weights_only=False)["history"]) == 3
    resumed, resumed_history = train(batches, loss_fn, control)

    assert resumed_history == whole_history
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b)
    rows = [json.loads(line) for line in control.log_path.read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4, 5]
    assert rows[-1]["loss"] < rows[0]["loss"]


def test_resuming_with_other_settings_is_refused(tmp_path):
    batches, loss_fn = regression_problem()
    control = RunControl(state_path=tmp_path / "run.state.pt", resume=True)
    train(batches, loss_fn, control, epochs=2)
    with pytest.raises(ValueError, match=r"other settings \(\{'epochs': \(2, 3\)\}"):
        train(batches, loss_fn, control, epochs=3)


def test_bfloat16_autocast_trains(tmp_path):
    batches, loss_fn = regression_problem(seed=1)
    _, history = train(batches, loss_fn, RunControl(amp=True), epochs=6)
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]


def write_inshop_layout(c2s_root, root):
    """The tiny consumer-to-shop set rewritten in In-shop's published layout (consumer photos as queries)."""
    data = retrieval_set(c2s_root)
    rows_bbox, rows_landmarks, rows_partition = [], [], []
    test_items = sorted({i.item_id for i in data.images})[::2]
    for image in data.images:
        name = image.image_path.relative_to(c2s_root).as_posix()
        split = "train" if image.item_id not in test_items else ("query" if image.source == "consumer" else "gallery")
        code = {"upper": 1, "lower": 2, "full": 3}[image.garment_type.value]
        box = image.box
        rows_bbox.append(f"{name} {code} 1 {box.x0:.0f} {box.y0:.0f} {box.x1:.0f} {box.y1:.0f}")
        triples = " ".join(f"{int(v)} {x:.1f} {y:.1f}" for v, (x, y) in zip(image.visibility, image.points))
        rows_landmarks.append(f"{name} {code} 1 {triples}")
        rows_partition.append(f"{name} {image.item_id} {split}")
    slots = " ".join(f"landmark_visibility_{i} landmark_location_x_{i} landmark_location_y_{i}" for i in range(1, 9))
    (root / "Anno").mkdir(parents=True)
    (root / "Eval").mkdir()
    (root / "img").symlink_to(c2s_root / "img")
    for path, header, rows in (
        ("Anno/list_bbox_inshop.txt", "image_name clothes_type pose_type x_1 y_1 x_2 y_2", rows_bbox),
        ("Anno/list_landmarks_inshop.txt", f"image_name clothes_type variation_type {slots}", rows_landmarks),
        ("Eval/list_eval_partition.txt", "image_name item_id evaluation_status", rows_partition),
    ):
        (root / path).write_text("\n".join([str(len(rows)), header, *rows]) + "\n")
    return data


def test_train_commands_take_the_inshop_layout_and_log_every_epoch(tiny_c2s, tmp_path):
    original = write_inshop_layout(tiny_c2s, tmp_path / "inshop")
    data = retrieval_set(tmp_path / "inshop")
    assert {i.split for i in data.images} == {"train", "test"}
    assert {i.source for i in data.images if i.split == "test"} == {"consumer", "shop"}
    assert len(landmark_records(tmp_path / "inshop", split="train")) == sum(1 for i in data.images if i.split == "train")
    assert len(data.images) == len(original.images)

    out = tmp_path / "fashionnet.pt"
    code = engine_main(["train", "extractor", "--data", str(tmp_path / "inshop"), "--val", str(tmp_path / "inshop"),
                        "--epochs", "2", "--items-per-batch", "4", "--out", str(out), "--quiet", "--device", "cpu"])
    assert code == 0
    rows = [json.loads(line) for line in out.with_name("fashionnet.log.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]
    assert any(key.startswith("inshop/") for key in rows[-1])  # validation figures per epoch
    assert not out.with_name("fashionnet.state.pt").exists()  # a finished run leaves no resume point
    assert json.loads(out.with_suffix(".json").read_text())["mixed_precision"] is None
