"""Markdown reports with PNG figures: ``python -m engine report aligner|extractor``.

``write_aligner_report`` writes, into one folder, report.md (how it was made,
NE overall / per stage / per slot / per garment type / per variation type,
visibility accuracy, the detection rate at a few thresholds), metrics.json,
detection_rate.png and best_N.png / worst_N.png: the images with the lowest
and highest NE, prediction beside ground truth (engine.overlay).

``write_extractor_report`` writes report.md (top-k at 1/5/10/20/50 for
consumer-to-shop and in-shop, category top-3/5 accuracy and attribute top-3/5
recall when the data has those labels), metrics.json and topk.png.

Figures are drawn with matplotlib's Agg canvas (no display needed).
"""
from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from pathlib import Path
import numpy as np
from PIL import Image, ImageDraw

from engine.evaluation.aligner import AlignerPredictions, aligner_metrics
from engine.evaluation.extractor import ExtractorScores
from engine.evaluation.landmarks import LandmarkScores, VARIATION_NAMES, detection_rate_curve, score_landmarks
from engine.evaluation.retrieval import curve_at
from engine.types import LANDMARK_SLOTS, Box, Detection, Embedding, Garment, GarmentType, Landmarks, Visibility

#: The k of the top-k table and the thresholds of the detection-rate table.
REPORT_KS = (1, 5, 10, 20, 50)
REPORT_THRESHOLDS = (0, 5, 10, 15, 20)
EXAMPLE_SIDE = 320  # overlay panels are scaled so their shorter side is at least this


@dataclass
class Provenance:
    """How a report was made, for its header."""

    command: str
    data: Path
    plugins: dict[str, str]  # role -> "name@version"
    split: str | None = None
    details: dict[str, str] = field(default_factory=dict)
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))

    def markdown(self, counts: dict[str, int]) -> list[str]:
        lines = [
            f"- Made by: `{self.command}`",
            f"- Date: {self.created}",
            f"- Data: `{self.data}`" + (f", split `{self.split}`" if self.split else ", all splits"),
        ]
        lines += [f"- {role.capitalize()}: `{key}`" for role, key in self.plugins.items()]
        lines += [f"- {name}: {value}" for name, value in self.details.items()]
        lines.append("- Counts: " + ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in counts.items()))
        return lines


# ----------------------------------------------------------------------------- aligner


def write_aligner_report(out: "str | Path", predictions: AlignerPredictions, provenance: Provenance, examples: int = 3) -> dict:
    """Write report.md, metrics.json, detection_rate.png and the best/worst overlays; return the figures."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if not predictions.records:
        raise ValueError("no labelled garments to report on")
    scores = score_landmarks(
        predictions.points, predictions.target, predictions.target_visibility, predictions.sizes,
        predictions.garment_types, predictions.variations,
    )
    metrics = aligner_metrics(predictions)
    type_curves = _type_curves(predictions, scores.thresholds)
    plot_curves(
        out / "detection_rate.png",
        {"all garments": (scores.thresholds, scores.detection_rate), **type_curves},
        xlabel="distance threshold (photo pixels)", ylabel="landmarks detected", title="Detection rate",
    )
    best, worst = _extremes(scores.per_image, examples)
    example_files = []
    for label, chosen in (("best", best), ("worst", worst)):
        for rank, n in enumerate(chosen, start=1):
            path = out / f"{label}_{rank}.png"
            draw_example(path, predictions, n, scores.per_image[n])
            example_files.append((label, rank, n, path.name))
    figures = _aligner_figures(metrics, scores)
    (out / "metrics.json").write_text(json.dumps(_finite(figures), indent=2, default=_json_default) + "\n")
    counts = {
        "garments": scores.images,
        "garments with a visible landmark": scores.scored_images,
        "visible landmarks": scores.visible_landmarks,
    }
    text = _aligner_markdown(provenance, counts, metrics, scores, example_files, predictions)
    (out / "report.md").write_text(text)
    return figures


def _aligner_figures(metrics: dict, scores: LandmarkScores) -> dict:
    return {
        **metrics,
        "ne_per_slot": scores.per_slot,
        "ne_per_type": scores.per_type,
        "ne_per_variation": scores.per_variation,
        "detection_rate": {int(d) if float(d).is_integer() else float(d): float(r)
                           for d, r in zip(scores.thresholds, scores.detection_rate)},
        "scored_garments": scores.scored_images,
        "visible_landmarks": scores.visible_landmarks,
    }


def _aligner_markdown(provenance, counts, metrics, scores: LandmarkScores, example_files, predictions) -> str:
    stages = [key for key in metrics if key.startswith("ne_stage")]
    lines = ["# Aligner report", ""]
    lines += provenance.markdown(counts)
    lines += [
        "",
        "NE is DeepFashion's normalised error as DFA defines it: for each garment, the mean over its visible",
        "ground-truth landmarks of the distance between prediction and label, with x divided by the crop's",
        "width and y by its height; then the mean over garments. Occluded and absent landmarks neither add",
        "error nor count; a garment with no visible landmark is left out. Lower is better.",
        "",
        "## Overall",
        "",
        "| figure | value |",
        "|---|---|",
        f"| NE | {_ne(metrics['ne'])} |",
    ]
    if len(stages) > 1:
        lines += [f"| NE after cascade stage {key[len('ne_stage'):]} | {_ne(metrics[key])} |" for key in stages]
    lines += [
        f"| visibility accuracy | {_pct(metrics['visibility_accuracy'])} |",
        f"| garments scored | {scores.scored_images} of {scores.images} |",
        "",
        "Visibility accuracy: the share of the slots each garment type has whose visibility",
        "(visible / occluded / absent) the aligner predicted right.",
        "",
        "## NE per landmark",
        "",
        "| landmark | NE | visible in |",
        "|---|---|---|",
    ]
    lines += [f"| {name.replace('_', ' ')} | {_ne(scores.per_slot[name])} | {scores.slot_counts[name]} |"
              for name in LANDMARK_SLOTS]
    lines += ["", "## NE per garment type", "", "| garment type | NE | garments |", "|---|---|---|"]
    lines += [f"| {name} | {_ne(value)} | {scores.type_counts.get(name, 0)} |" for name, value in scores.per_type.items()]
    lines += ["", "## NE per variation type", "", "| variation | NE | garments |", "|---|---|---|"]
    lines += [f"| {name} | {_ne(value)} | {scores.variation_counts.get(name, 0)} |"
              for name, value in scores.per_variation.items()]
    lines += [
        "",
        "FLD's variation types: " + ", ".join(f"{code} {name}" for code, name in VARIATION_NAMES.items()) + ".",
        "",
        "## Detection rate",
        "",
        "| within | " + " | ".join(f"{d} px" for d in REPORT_THRESHOLDS) + " |",
        "|---|" + "---|" * len(REPORT_THRESHOLDS),
        "| landmarks detected | " + " | ".join(_pct(_at(scores.thresholds, scores.detection_rate, d))
                                          for d in REPORT_THRESHOLDS) + " |",
        "",
        "![detection rate](detection_rate.png)",
        "",
        "How to read it: for each distance d on the x axis (in pixels of the original photo), the curve gives",
        "the share of visible ground-truth landmarks whose prediction lies within d pixels. Higher and further",
        "left is better; one curve per garment type shows where the aligner struggles. The value at 0 px is the",
        "share of exact hits, the value at 20 px how many landmarks are roughly right.",
        "",
        "## Best and worst garments",
        "",
        "How to read them: each picture shows one garment's crop twice, the prediction on the left and the",
        "ground truth on the right. Dots are visible landmarks, rings occluded ones, one colour per slot (legend",
        "bottom-left); on the left, thin white lines join each prediction to its label for the landmarks NE",
        "scores. Best are the lowest NE, worst the highest: look at the worst for systematic failures.",
        "",
    ]
    for label, rank, n, name in example_files:
        record = predictions.records[n]
        lines += [
            f"**{label} {rank}**: NE {_ne(scores.per_image[n])}, {record.garment_type.value}, "
            f"{VARIATION_NAMES.get(int(record.variation), f'variation {record.variation}')}, `{record.image_path.name}`",
            "",
            f"![{label} {rank}]({name})",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def _type_curves(predictions: AlignerPredictions, thresholds: np.ndarray) -> dict:
    types = np.array([t.value for t in predictions.garment_types])
    curves = {}
    for garment_type in GarmentType:
        chosen = types == garment_type.value
        visible = predictions.target_visibility[chosen] == Visibility.VISIBLE
        if chosen.any() and visible.any():
            rate = detection_rate_curve(predictions.points[chosen], predictions.target[chosen], visible, thresholds)
            curves[garment_type.value] = (thresholds, rate)
    return curves if len(curves) > 1 else {}


def _extremes(per_image: np.ndarray, count: int) -> tuple[list[int], list[int]]:
    """Indices of the ``count`` lowest and highest NE (images without an NE skipped; no image in both)."""
    scored = [int(n) for n in np.argsort(per_image, kind="stable") if not np.isnan(per_image[n])]
    best = scored[:count]
    worst = [n for n in reversed(scored) if n not in best][:count]
    return best, worst


def draw_example(path: "str | Path", predictions: AlignerPredictions, n: int, ne: float) -> None:
    """Prediction (left) beside ground truth (right) over garment ``n``'s crop, with its NE as a title."""
    from engine.imageio import load_image
    from engine.overlay import draw_overlay

    record = predictions.records[n]
    image = load_image(record.image_path)
    box = predictions.boxes[n]
    height, width = image.shape[:2]
    margin = 0.1 * max(box.width, box.height)
    x0, y0 = max(0, int(box.x0 - margin)), max(0, int(box.y0 - margin))
    x1, y1 = min(width, int(np.ceil(box.x1 + margin))), min(height, int(np.ceil(box.y1 + margin)))
    if x1 <= x0 or y1 <= y0:
        x0, y0, x1, y1 = 0, 0, width, height
    crop = image[y0:y1, x0:x1]
    scale = max(1.0, EXAMPLE_SIDE / min(crop.shape[:2]))
    if scale > 1.0:
        size = (round(crop.shape[1] * scale), round(crop.shape[0] * scale))
        crop = np.asarray(Image.fromarray(crop).resize(size, Image.BILINEAR))

    def to_panel(points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, np.float32) - np.array([x0, y0], np.float32)) * scale

    panel_box = Box(*(to_panel(np.array([[box.x0, box.y0], [box.x1, box.y1]])).reshape(-1)))
    predicted = Landmarks(to_panel(predictions.points[n]), predictions.visibility[n])
    truth = Landmarks(to_panel(record.points), record.visibility)
    left = draw_overlay(crop, [_garment(panel_box, record.garment_type, predicted, "prediction")])
    right = draw_overlay(crop, [_garment(panel_box, record.garment_type, truth, "ground truth")])
    left_image = Image.fromarray(left)
    lines = ImageDraw.Draw(left_image)
    for i in np.flatnonzero(record.visibility == Visibility.VISIBLE):
        start, end = tuple(predicted.points[i]), tuple(truth.points[i])
        lines.line([start, end], fill=(0, 0, 0), width=3)
        lines.line([start, end], fill=(255, 255, 255), width=1)
    gap, title_h = 8, 28
    sheet = Image.new("RGB", (left.shape[1] * 2 + gap, left.shape[0] + title_h), (255, 255, 255))
    sheet.paste(left_image, (0, title_h))
    sheet.paste(Image.fromarray(right), (left.shape[1] + gap, title_h))
    title = f"NE {ne:.4f}  |  {record.garment_type.value}  |  {record.image_path.name}  |  left: prediction, right: ground truth"
    ImageDraw.Draw(sheet).text((6, 8), title, fill=(0, 0, 0))
    sheet.save(path)


def _garment(box: Box, garment_type: GarmentType, landmarks: Landmarks, caption: str) -> Garment:
    # The overlay labels a garment with its embedding's category: here, which side this is.
    return Garment(Detection(box, garment_type, 1.0), landmarks, Embedding(np.zeros(1, np.float32), "", category=caption))


# ----------------------------------------------------------------------------- extractor


def write_extractor_report(out: "str | Path", scores: ExtractorScores, provenance: Provenance) -> dict:
    """Write report.md, metrics.json and topk.png; return the figures."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    curves = {name: curve for name, curve in (("consumer-to-shop", scores.consumer_to_shop),
                                             ("in-shop", scores.in_shop)) if curve is not None}
    if curves:
        plot_curves(
            out / "topk.png",
            {name: (np.arange(1, len(curve) + 1), curve) for name, curve in curves.items()},
            xlabel="k (gallery images retrieved)", ylabel="top-k hit rate", title="Retrieval: top-k accuracy",
        )
    figures = scores.figures()
    for name, curve in curves.items():
        figures[f"{name}_curve"] = [float(v) for v in curve]
    (out / "metrics.json").write_text(json.dumps(_finite(figures), indent=2, default=_json_default) + "\n")
    (out / "report.md").write_text(_extractor_markdown(provenance, scores, curves))
    return figures


def _extractor_markdown(provenance: Provenance, scores: ExtractorScores, curves: dict) -> str:
    lines = ["# Extractor report", ""]
    lines += provenance.markdown(scores.counts)
    lines += [
        "",
        "## Retrieval",
        "",
        "Top-k accuracy as DeepFashion defines it: a query hits at k when at least one of the k gallery",
        "images most similar to it (cosine similarity of the embeddings) shows the query's own item.",
        *_protocol_text(scores),
        f"Search: {_backend_text(scores.backend)}; landmarks given to the extractor from the {scores.landmarks_from}.",
        "",
    ]
    if curves:
        lines += [
            "| benchmark | queries | gallery | " + " | ".join(f"top-{k}" for k in REPORT_KS) + " |",
            "|---|---|---|" + "---|" * len(REPORT_KS),
        ]
        sizes = {"consumer-to-shop": ("c2s_queries", "c2s_gallery"), "in-shop": ("inshop_queries", "inshop_gallery")}
        for name, curve in curves.items():
            at = curve_at(curve, REPORT_KS)
            queries, gallery = (scores.counts[key] for key in sizes[name])
            lines.append(f"| {name} | {queries} | {gallery} | " + " | ".join(_pct(at[f"top{k}"]) for k in REPORT_KS) + " |")
        lines += [
            "",
            "![top-k accuracy](topk.png)",
            "",
            "How to read it: for each k on the x axis, the curve gives the share of queries whose item is among",
            "the first k gallery images returned. Higher is better; top-1 is what a user sees first, top-20 a",
            "page of results. A curve that rises late means the right item is found but ranked low. With fewer",
            "than k gallery images the curve stays flat at its last value.",
        ]
    else:
        lines.append("No retrieval queries: the data has no consumer images with shop images of their items.")
    if scores.consumer_to_shop is not None and scores.in_shop is None:
        lines += ["", "In-shop retrieval was not measured: no item has two or more shop images here."]
    if scores.in_shop_protocol == "benchmark":
        lines += ["", "Consumer-to-shop retrieval was not measured: this is an In-shop folder."]
    lines += ["", "## Category and attributes", ""]
    if scores.category is None and scores.attributes is None:
        lines.append("Not measured: the data has no category or attribute labels.")
    else:
        lines += ["| figure | value | images |", "|---|---|---|"]
        for name, value in (scores.category or {}).items():
            k = name.removeprefix("category_top")
            lines.append(f"| category top-{k} accuracy | {_pct(value)} | {scores.counts.get('category_images', 0)} |")
        for name, value in (scores.attributes or {}).items():
            k = name.removeprefix("attribute_top")
            lines.append(f"| attribute top-{k} recall | {_pct(value)} | {scores.counts.get('attribute_images', 0)} |")
        lines += [
            "",
            "Category top-k accuracy: the share of images whose labelled category is among the k categories the",
            "extractor scores highest. Attribute top-k recall (DeepFashion): each image's k highest-scored",
            "attributes are retrieved; recall is the number of ground-truth positive attributes retrieved,",
            "summed over the images, divided by the number of ground-truth positive attributes.",
        ]
        if scores.attributes is not None and scores.attributes_partly_scored:
            lines += [
                "",
                f"Note: for {scores.attributes_partly_scored} images the extractor scored fewer than 5 attributes "
                "(it reports only the attributes it believes present); unscored attributes count as not retrieved, "
                "so the recall above is a lower bound.",
            ]
    return "\n".join(lines).rstrip() + "\n"


def _protocol_text(scores: ExtractorScores) -> list[str]:
    if scores.in_shop_protocol == "benchmark":
        return ["In-shop (DeepFashion's benchmark): each image of the 'query' split searches the 'gallery' split."]
    return [
        "Consumer-to-shop: consumer photos query the shop photos. In-shop: each shop photo of an item",
        "with two or more shop photos queries the other shop photos (itself left out).",
    ]


def _backend_text(backend: str) -> str:
    if backend == "milvus":
        return "through the product's Milvus index (CatalogIndex, HNSW, cosine), each gallery image its own entry"
    return "exact (brute-force cosine similarity in numpy)"


# ----------------------------------------------------------------------------- plots and formatting


def plot_curves(path: "str | Path", curves: dict, xlabel: str, ylabel: str, title: str) -> None:
    """Line plot of ``{label: (x, y)}`` (y a rate in [0, 1], shown in percent) as a PNG, via the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.2), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for number, (label, (x, y)) in enumerate(curves.items()):
        axes.plot(np.asarray(x), 100 * np.asarray(y, np.float64), label=label,
                  linewidth=2.2 if number == 0 else 1.4, marker="o" if len(x) <= 25 else None, markersize=3)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(f"{ylabel} (%)")
    axes.set_title(title)
    axes.set_ylim(-2, 102)  # a curve at 0 % or 100 % stays visible
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path)


def _ne(value: float) -> str:
    return "n/a" if value is None or np.isnan(value) else f"{value:.4f}"


def _pct(value: float) -> str:
    return "n/a" if value is None or np.isnan(value) else f"{100 * value:.1f}%"


def _at(thresholds: np.ndarray, curve: np.ndarray, d: float) -> float:
    matches = np.flatnonzero(np.isclose(thresholds, d))
    return float(curve[matches[0]]) if matches.size else float("nan")


def _finite(value):
    """NaN (a figure with nothing to measure) as JSON null."""
    if isinstance(value, dict):
        return {(str(k) if not isinstance(k, (str, int, float)) else k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)) and np.isnan(value):
        return None
    return value


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


__all__ = ["Provenance", "write_aligner_report", "write_extractor_report", "draw_example", "plot_curves", "REPORT_KS"]
