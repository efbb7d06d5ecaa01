"""Catalog indexing throughput, batched, end to end, against the backbone alone measured in the same run.

    .venv/bin/python bench/indexing_throughput.py [--images 8192] [--batch 256] [--decode-workers 12]
    .venv/bin/python bench/indexing_throughput.py --images 64 --batch 16 --decode-workers 1   # a CPU check

Made for the lent GPU: on CUDA the backbone and the heads run under bfloat16
autocast. Each catalog image goes through every stage the worker's indexing
does: JPEG decode (PIL, in --decode-workers processes), the full_image
detector with the catalog's garment type as its hint, the letterbox crop, the
shared backbone, the cascade_cnn aligner, the fashionnet extractor, and an
upsert into a Milvus Lite server on 127.0.0.1. Decoding and cropping run in
parallel with the GPU (a DataLoader), as a real indexing worker would.

Prints images per second end to end, the time each stage takes per batch (the
GPU stages timed with synchronisation, the decode as the time the loop waited
for it), and the backbone alone at the same batch size (images per second).
"""
from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.contracts import GarmentCrops  # noqa: E402
from engine.data.sources import retrieval_set  # noqa: E402
from engine.imageio import load_image  # noqa: E402
from engine.milvus_server import MilvusLiteServer, free_port  # noqa: E402
from engine.models.efficientnet_lite import shared_feature_maps  # noqa: E402
from engine.registry import load_plugin  # noqa: E402
from engine.types import GarmentType  # noqa: E402
from engine.vector_index import CatalogIndex, IndexRow  # noqa: E402

SOURCE = ROOT / "var" / "bench" / "indexing_source"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8192, help="catalog images to index")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--decode-workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    parser.add_argument("--device", default="auto", help="cuda, cpu or auto")
    parser.add_argument("--unique", type=int, default=512, help="distinct synthetic shop photos (cycled)")
    args = parser.parse_args()
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else ("cpu" if args.device == "auto" else args.device)

    jpegs, types = shop_photos(args.unique)
    print(f"{device} ({torch.cuda.get_device_name() if device == 'cuda' else torch.get_num_threads()}), "
          f"batch {args.batch}, {args.decode_workers} decode workers, {args.images} images")
    backbone_rate = backbone_only(device, args.batch)
    with tempfile.TemporaryDirectory() as folder, MilvusLiteServer(Path(folder), port=free_port()) as milvus:
        rate, stages = index_catalog(args, device, jpegs, types, milvus.uri)
    print(f"backbone alone (same batch, same run)   {backbone_rate:9.0f} images/s")
    print(f"end to end (decode ... Milvus insert)   {rate:9.0f} images/s   ({rate / backbone_rate:.2f} of the backbone alone)")
    total = sum(stages.values())
    for name, seconds in stages.items():
        print(f"  {name:<28} {1000 * seconds / max(1, args.images // args.batch - 1):8.1f} ms/batch  {100 * seconds / total:5.1f}%")
    return 0


def shop_photos(count: int) -> tuple[list[bytes], list[GarmentType]]:
    """JPEG bytes of synthetic shop photos (generated once into var/bench/) and their garment types."""
    from engine.data.synthetic import generate_consumer2shop

    if not (SOURCE / "Anno").exists() or len([p for p in (SOURCE / "img").rglob("*.jpg")]) < count:
        generate_consumer2shop(SOURCE, count, consumer_per_item=0, seed=4242, workers=2, progress=True)
    shop = [i for i in retrieval_set(SOURCE).images if i.source == "shop"][:count]
    return [i.image_path.read_bytes() for i in shop], [i.garment_type for i in shop]


def autocast(device: str):
    return torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else nullcontext()


def synchronise(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


@torch.inference_mode()
def backbone_only(device: str, batch: int, repeats: int = 10) -> float:
    feature_maps = shared_feature_maps(device)
    canvases = torch.randint(0, 256, (batch, 224, 224, 3), dtype=torch.uint8, device=device)
    times = []
    for _ in range(repeats + 2):
        synchronise(device)
        start = time.perf_counter()
        with autocast(device):
            feature_maps(canvases)
        synchronise(device)
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times[2:])


class CatalogPhotos(torch.utils.data.Dataset):
    """Decode + detect + letterbox, in the DataLoader's worker processes."""

    def __init__(self, jpegs: list[bytes], types: list[GarmentType], count: int) -> None:
        self.jpegs, self.types, self.count = jpegs, types, count
        self.detector = None

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> GarmentCrops:
        if self.detector is None:
            self.detector = load_plugin("detector", "full_image")
        k = index % len(self.jpegs)
        image = load_image(self.jpegs[k])
        detections = self.detector.detect([image], [self.types[k]])[0]
        crops = GarmentCrops.from_detections(image, detections)
        crops.photos = None  # the heads need only the canvases; do not ship the photo between processes
        return crops


@torch.inference_mode()
def index_catalog(args, device: str, jpegs, types, uri: str) -> tuple[float, dict[str, float]]:
    aligner = load_plugin("aligner", "cascade_cnn", device=device)
    extractor = load_plugin("extractor", "fashionnet", device=device)
    feature_maps = shared_feature_maps(device)
    index = CatalogIndex(uri, "bench-indexing", "1.0", extractor.info.embedding_dim, batch_size=5000)
    index.ensure_ready()
    loader = torch.utils.data.DataLoader(
        CatalogPhotos(jpegs, types, args.images), batch_size=args.batch, num_workers=args.decode_workers,
        collate_fn=GarmentCrops.concat, prefetch_factor=4 if args.decode_workers else None,
        persistent_workers=False,
    )
    stages = dict.fromkeys(["decode + detect + crop (wait)", "backbone", "aligner", "extractor", "Milvus upsert"], 0.0)
    ids = itertools.count(1)
    done = 0
    start = last = time.perf_counter()
    for number, crops in enumerate(loader):
        last = _lap(stages, "decode + detect + crop (wait)", last, device)
        with autocast(device):
            canvases = torch.from_numpy(crops.canvases).to(device, non_blocking=True)
            features = {k: v.float() for k, v in feature_maps(canvases).items()}
            last = _lap(stages, "backbone", last, device)
            landmarks = aligner.align_crops(crops, features)
            last = _lap(stages, "aligner", last, device)
            embeddings = extractor.extract_crops(crops, landmarks, features)
            last = _lap(stages, "extractor", last, device)
        rows = [IndexRow(next(ids), i, d.garment_type.value, "bench", True, e.vector)
                for i, (d, e) in enumerate(zip(crops.detections, embeddings))]
        index.upsert(rows)
        last = _lap(stages, "Milvus upsert", last, device)
        if number == 0:  # the first batch warms up (CUDA kernels, traces, the Milvus collection): not counted
            stages = dict.fromkeys(stages, 0.0)
            start = last = time.perf_counter()
            continue
        done += len(rows)
    elapsed = time.perf_counter() - start
    index.flush()
    print(f"indexed {done} images after a warm-up batch, Milvus holds {index.count()}")
    index.close()
    return done / elapsed, stages


def _lap(stages: dict, name: str, since: float, device: str) -> float:
    synchronise(device)
    now = time.perf_counter()
    stages[name] += now - since
    return now


if __name__ == "__main__":
    raise SystemExit(main())
