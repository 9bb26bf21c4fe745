"""Time the single-image hot path against the naive path, batch throughput and model load.

    python -m core.cli.benchmark [--model DIR] [--json] [--repeats N]

The naive path is what a first version would do: `model.predict` plus a fresh tf-keras-vis Gradcam per image.
"""
import argparse
import json
import platform
import sys
import time

import numpy as np
from tf_keras_vis.gradcam import Gradcam
from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
from tf_keras_vis.utils.scores import CategoricalScore

from core.imaging.phantom import chest_phantom
from core.model.bundle import DEFAULT_MODEL_DIR, ModelLoadError
from core.serving.classifier import Classifier


def _timings_ms(step, repeats: int, warmup: int = 3) -> np.ndarray:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1000)
    return np.array(times)


def naive_step(classifier: Classifier, pixels: np.ndarray) -> None:
    x = classifier.model_input(pixels)[None]
    probabilities = classifier.model.predict(x, verbose=0)
    cam = Gradcam(classifier.model, model_modifier=ReplaceToLinear(), clone=True)
    cam(CategoricalScore([int(probabilities.argmax())]), x, penultimate_layer=classifier.cam_layer)


def run(model_dir: str, repeats: int) -> dict:
    start = time.perf_counter()
    classifier = Classifier.from_dir(model_dir)
    load_s = time.perf_counter() - start
    pixels = (chest_phantom(512) * 255).astype(np.uint8)  # synthetic: the benchmark needs no patient data
    hot = _timings_ms(lambda: classifier.analyse(pixels), repeats)
    naive = _timings_ms(lambda: naive_step(classifier, pixels), max(3, repeats // 10), warmup=1)
    batch = [pixels] * 32
    batch_ms = _timings_ms(lambda: classifier.classify_batch(batch), 3, warmup=1)
    return {
        "p50_ms": float(np.percentile(hot, 50)), "p95_ms": float(np.percentile(hot, 95)),
        "naive_p50_ms": float(np.percentile(naive, 50)),
        "speedup": float(np.percentile(naive, 50) / np.percentile(hot, 50)),
        "batch_images_per_s": float(len(batch) / (np.median(batch_ms) / 1000)),
        "load_s": float(load_s),
        "machine": f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} CPUs",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.cli.benchmark", description="Time the inference paths.")
    parser.add_argument("--model", default=str(DEFAULT_MODEL_DIR))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args(argv)
    try:
        figures = run(args.model, args.repeats)
    except ModelLoadError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"hot path (decode excluded, predict + Grad-CAM): p50 {figures['p50_ms']:.1f} ms, p95 {figures['p95_ms']:.1f} ms")
        print(f"naive path (model.predict + fresh Gradcam): p50 {figures['naive_p50_ms']:.1f} ms ({figures['speedup']:.1f}x slower)")
        print(f"batch throughput: {figures['batch_images_per_s']:.1f} images/s; model load {figures['load_s']:.2f} s; {figures['machine']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
