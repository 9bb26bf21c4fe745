"""Train a classifier with stratified k-fold cross-validation, then on all images, and write models/<name>/.

    python -m core.train DATA_DIR --out models/NAME [--backbone mobilenet_v2|resnet50|small_cnn]
        [--epochs N] [--img-size N] [--folds K] [--seed S]

Transfer backbones stay frozen: their pooled features are computed once (plus a mirrored copy as augmentation)
and a linear softmax head is trained on them. small_cnn is trained end to end from scratch.
"""
import argparse
import datetime
import hashlib
import shlex
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core import abstention, augment, calibration, ood, shortcut
from core.backbones import (BACKBONES, CAM_LAYER, DEFAULT_BACKBONE, FEATURE_LAYERS, FEATURES_NAME, WeightsUnavailableError,
                            attach_head, build_feature_extractor, build_head)
from core.classes import CLASSES, CLASS_NAMES
from core.dataset import DatasetError, Sample, labels_of, load_images, scan_dataset, stratified_folds
from core.metrics import classification_summary, mean_and_std
from core.model_store import HISTORY_FILE, PREDICTIONS_FILE, save_model, write_json

DEFAULT_IMG_SIZE = {"mobilenet_v2": 224, "resnet50": 224, "small_cnn": 96}
DEFAULT_EPOCHS = {"mobilenet_v2": 120, "resnet50": 120, "small_cnn": 30}
BATCH_SIZE = 32


class EpochPrinter(keras.callbacks.Callback):
    """One line per epoch: which fold, which epoch, and the loss and accuracy so far."""

    def __init__(self, stage: str, epochs: int):
        super().__init__()
        self.stage, self.epochs = stage, epochs

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        shown = " ".join(f"{k}={v:.4f}" for k, v in (logs or {}).items())
        print(f"{self.stage} epoch {epoch + 1}/{self.epochs} {shown}", flush=True)


def _fit(model: keras.Model, x: np.ndarray, y: np.ndarray, epochs: int, stage: str, seed: int,
         validation: tuple[np.ndarray, np.ndarray] | None = None, augment: bool = False) -> dict:
    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed)
    if augment:  # mirrored X-rays: heart side flips, but texture and opacity patterns stay
        data = data.map(lambda image, label: (tf.image.random_flip_left_right(image, seed=seed), label))
    history = model.fit(data.batch(BATCH_SIZE), epochs=epochs, validation_data=validation, verbose=0,
                        callbacks=[EpochPrinter(stage, epochs)])
    return {k: [float(v) for v in values] for k, values in history.history.items()}


def _features_with_mirrors(extractor: keras.Model, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features of each image and of its mirror image, computed once for every fold."""
    print(f"computing {extractor.name} features for {len(images)} images and their mirror images", flush=True)
    plain, mirrored = (extractor.predict(v, batch_size=BATCH_SIZE, verbose=0) for v in (images, images[:, :, ::-1]))
    return plain, mirrored


class Trainer:
    """Fits one fold or the final model for a backbone; features of frozen backbones are cached."""

    def __init__(self, backbone: str, images: np.ndarray, labels: np.ndarray, epochs: int, seed: int):
        self.backbone, self.images, self.labels, self.epochs, self.seed = backbone, images, labels, epochs, seed
        img_size = images.shape[1]
        self.extractor = build_feature_extractor(backbone, img_size, None if backbone == "small_cnn" else "imagenet")
        self.frozen = backbone != "small_cnn"
        if self.frozen:
            self.features, self.features_mirrored = _features_with_mirrors(self.extractor, images)
        self.stamped_for_testing = augment.with_burned_in_labels(images, seed)

    def fit(self, train_idx: np.ndarray, stage: str, val_idx: np.ndarray | None = None) -> tuple[keras.Model, dict]:
        """Train on train_idx; returns the full pixels-to-probabilities model and its history."""
        if self.frozen:
            x = np.concatenate([self.features[train_idx], self.features_mirrored[train_idx]])
            head = build_head(self.features.shape[1], len(CLASSES), feature_sample=x)
            y = np.tile(self.labels[train_idx], 2)
            val = None if val_idx is None else (self.features[val_idx], self.labels[val_idx])
            history = _fit(head, x, y, self.epochs, stage, self.seed, val)
            return attach_head(self.extractor, head), history
        keras.utils.set_random_seed(self.seed)
        extractor = build_feature_extractor(self.backbone, self.images.shape[1], None)
        model = attach_head(extractor, build_head(extractor.output.shape[-1], len(CLASSES)))
        val = None if val_idx is None else (self.images[val_idx], self.labels[val_idx])
        history = _fit(model, self.images[train_idx], self.labels[train_idx], self.epochs, stage, self.seed, val, augment=True)
        return model, history

    def predict(self, model: keras.Model, idx: np.ndarray, stamped: bool = False) -> np.ndarray:
        images = self.stamped_for_testing if stamped else self.images
        return model.predict(images[idx], batch_size=BATCH_SIZE, verbose=0)

    def features_of(self, model: keras.Model) -> np.ndarray:
        """Pooled features of every image under `model` (cached for a frozen backbone)."""
        if self.frozen:
            return self.features
        return keras.Model(model.input, model.get_layer(FEATURES_NAME).output).predict(self.images, batch_size=BATCH_SIZE, verbose=0)


def cross_validate(trainer: Trainer, folds: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, list[dict], dict]:
    """Out-of-fold probabilities, each image's fold number, each fold's history, and the out-of-fold shortcut checks."""
    oof = np.zeros((len(trainer.labels), len(CLASSES)), dtype=np.float64)
    oof_stamped = np.zeros_like(oof)
    fold_of = np.zeros(len(trainer.labels), dtype=int)
    masses = np.zeros(len(trainer.labels))
    histories = []
    for k, (train_idx, val_idx) in enumerate(folds):
        model, history = trainer.fit(train_idx, f"fold {k + 1}/{len(folds)}", val_idx)
        oof[val_idx] = trainer.predict(model, val_idx)
        oof_stamped[val_idx] = trainer.predict(model, val_idx, stamped=True)
        masses[val_idx] = shortcut.central_mass_of_images(model, CAM_LAYER[trainer.backbone], trainer.images[val_idx])
        fold_of[val_idx] = k
        histories.append({"fold": k + 1, **history})
    checks = {**shortcut.summarise(masses, trainer.labels), "burned_in_label_test": shortcut.label_sensitivity(trainer.labels, oof, oof_stamped)}
    return oof, fold_of, histories, checks


def linear_probe_baseline(trainer: Trainer, folds: list[tuple[np.ndarray, np.ndarray]]) -> dict | None:
    """The baseline to beat: logistic regression on the frozen backbone's last pooled layer, by the same folds."""
    if not trainer.frozen:
        return None
    last = trainer.extractor.get_layer(FEATURE_LAYERS[trainer.backbone][-1]).output.shape[-1]
    features = trainer.features[:, -last:]
    oof = np.zeros((len(trainer.labels), len(CLASSES)))
    for train_idx, val_idx in folds:
        probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000)).fit(features[train_idx], trainer.labels[train_idx])
        oof[val_idx] = probe.predict_proba(features[val_idx])
    fold_of = np.zeros(len(oof), dtype=int)
    for k, (_, val_idx) in enumerate(folds):
        fold_of[val_idx] = k
    figures = _cv_figures(trainer.labels, oof, fold_of)
    return {"recipe": f"standardised logistic regression (C=0.1) on pooled {FEATURE_LAYERS[trainer.backbone][-1]} features",
            **{k: figures[k] for k in ("accuracy", "macro_f1", "covid19_recall")}}


def _cv_figures(labels: np.ndarray, oof: np.ndarray, fold_of: np.ndarray) -> dict:
    per_fold = [classification_summary(labels[fold_of == k], oof[fold_of == k]) for k in range(fold_of.max() + 1)]
    return {
        "accuracy": mean_and_std([f["accuracy"] for f in per_fold]),
        "macro_f1": mean_and_std([f["macro_f1"] for f in per_fold]),
        "covid19_recall": mean_and_std([f["per_class"]["covid19"]["recall"] for f in per_fold]),
        "pooled": classification_summary(labels, oof),
    }


def fit_ood(features: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]) -> tuple[ood.OodDetector, dict]:
    """A detector on all training features, its threshold from held-out folds, and the false-rejection rate there."""
    held_out = ood.held_out_distances(features, folds)
    detector = ood.OodDetector.fit(features)
    detector.threshold = float(np.quantile(held_out, ood.OOD_QUANTILE))
    return detector, {"threshold": detector.threshold, "cv_false_rejection_rate": float(np.mean(held_out > detector.threshold))}


def build_card(args: argparse.Namespace, samples: list[Sample], labels: np.ndarray, oof: np.ndarray,
               fold_of: np.ndarray, temperature: float, operating_point: dict, ood_summary: dict,
               probe: dict | None, shortcut_summary: dict) -> dict:
    calibrated = calibration.apply_temperature(oof, temperature)
    return {
        "name": Path(args.out).name,
        "backbone": args.backbone,
        "classes": [{"name": c.name, "display": c.display} for c in CLASSES],
        "input_size": args.img_size,
        "input": "raw 0-255 greyscale pixels replicated to 3 channels, resized to a square; normalisation is inside the model",
        "training_data": {
            "source": str(Path(args.data_dir)),
            "n": len(samples),
            "counts": {name: int((labels == i).sum()) for i, name in enumerate(CLASS_NAMES)},
        },
        "cross_validation": {
            "folds": args.folds, "seed": args.seed,
            **_cv_figures(labels, oof, fold_of),
            "figures_are": "out-of-fold estimates on the training images, not an independent test set",
        },
        "baseline_linear_probe": probe,
        "shortcut_check": shortcut_summary,
        "calibration": {
            "temperature": temperature,
            "ece_before": classification_summary(labels, oof)["ece"],
            "ece_after": classification_summary(labels, calibrated)["ece"],
        },
        "threshold": operating_point["threshold"],
        "ood": ood_summary,
        "abstention": operating_point,
        "epochs": args.epochs,
        "training_command": "python -m core.train " + " ".join(shlex.quote(a) for a in args.argv),
        "trained_at": datetime.date.today().isoformat(),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m core.train", description="Train a chest X-ray classifier.")
    parser.add_argument("data_dir", help="folder with one subfolder per class: " + ", ".join(CLASS_NAMES))
    parser.add_argument("--out", required=True, help="output model folder, e.g. models/default")
    parser.add_argument("--backbone", choices=BACKBONES, default=DEFAULT_BACKBONE)
    parser.add_argument("--epochs", type=int, help="epochs per fit (default depends on the backbone)")
    parser.add_argument("--img-size", type=int, help="square input size in pixels (default depends on the backbone)")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (at least 2)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    args.epochs = args.epochs or DEFAULT_EPOCHS[args.backbone]
    args.img_size = args.img_size or DEFAULT_IMG_SIZE[args.backbone]
    args.argv = argv
    if args.folds < 2 or args.epochs < 1 or args.img_size < 32:
        parser.error("--folds must be at least 2, --epochs at least 1 and --img-size at least 32")
    return args


def train(args: argparse.Namespace) -> dict:
    """Cross-validate, calibrate, choose the abstention threshold, train on everything, and write the folder."""
    samples = scan_dataset(args.data_dir)
    labels = labels_of(samples)
    if np.bincount(labels, minlength=len(CLASSES)).min() < args.folds:
        raise DatasetError(f"{args.data_dir}: every class needs at least {args.folds} images for {args.folds}-fold cross-validation")
    print(f"loading {len(samples)} images at {args.img_size}x{args.img_size}", flush=True)
    trainer = Trainer(args.backbone, load_images(samples, args.img_size), labels, args.epochs, args.seed)
    folds = stratified_folds(labels, args.folds, args.seed)
    oof, fold_of, histories, shortcut_checks = cross_validate(trainer, folds)
    probe = linear_probe_baseline(trainer, folds)
    temperature = calibration.fit_temperature(labels, oof)
    operating_point = abstention.choose_threshold(labels, calibration.apply_temperature(oof, temperature))
    model, final_history = trainer.fit(np.arange(len(labels)), "final (all images)")
    detector, ood_summary = fit_ood(trainer.features_of(model), folds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ood_bytes = detector.to_bytes()
    (out / ood.OOD_FILE).write_bytes(ood_bytes)
    ood_summary["sha256"] = hashlib.sha256(ood_bytes).hexdigest()
    card = save_model(model, out, build_card(args, samples, labels, oof, fold_of, temperature, operating_point, ood_summary,
                                            probe, shortcut_checks))
    write_json(out, HISTORY_FILE, {"folds": histories, "final": final_history})
    write_json(out, PREDICTIONS_FILE, [
        {"path": s.relative_path, "true": CLASS_NAMES[s.label], "fold": int(fold_of[i]) + 1,
         "probabilities": dict(zip(CLASS_NAMES, map(float, oof[i])))}
        for i, s in enumerate(samples)
    ])
    return card


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        card = train(args)
    except (DatasetError, WeightsUnavailableError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    cv = card["cross_validation"]
    print(f"wrote {args.out}: CV accuracy {cv['accuracy']['mean']:.3f} ± {cv['accuracy']['std']:.3f}, "
          f"macro-F1 {cv['macro_f1']['mean']:.3f} ± {cv['macro_f1']['std']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
