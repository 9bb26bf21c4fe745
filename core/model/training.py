"""Train a classifier, validate it across patients and sources, then train on all images and write models/<name>/.

    python -m core.cli.train DATA_DIR --out models/NAME [--backbone mobilenet_v2|resnet50|small_cnn]
        [--epochs N] [--img-size N] [--folds K] [--restyled-copies N] [--intensity none|clahe] [--seed S]

DATA_DIR holds one folder per label. With a manifest.csv (core/data/manifest.py), folds are grouped by patient, every
source is also left out once (train on the others, report on it), and coarse labels such as
pneumonia_unspecified train with a loss that rewards any class they allow. Transfer backbones stay frozen: their
pooled features are computed once (plus mirrored and restyled copies) and a linear softmax head is trained on them.
small_cnn is trained end to end from scratch.
"""
import argparse
import datetime
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import ops
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core.classes import CLASS_NAMES, CLASSES, LABEL_NAMES, target_sets
from core.data import augment
from core.data.folders import DatasetError, Sample, labels_of, load_images, scan_dataset
from core.data.manifest import grouped_folds, has_manifest, read_manifest, source_splits
from core.evaluation import by_source, shortcut
from core.evaluation.metrics import classification_summary, mean_and_std
from core.hashing import sha256_of
from core.imaging.preprocess import CLAHE
from core.model import abstention, calibration, ood
from core.model.backbones import (
    CAM_LAYER,
    FEATURE_LAYERS,
    FEATURES_NAME,
    attach_head,
    build_feature_extractor,
    build_head,
)
from core.model.bundle import save_bundle
from core.model.card import CARD_VERSION, Calibration, ModelCard, OodSummary

DEFAULT_IMG_SIZE = {"mobilenet_v2": 224, "resnet50": 224, "small_cnn": 96}
DEFAULT_EPOCHS = {"mobilenet_v2": 40, "resnet50": 40, "small_cnn": 30}
BATCH_SIZE = 32
N_CLASSES = len(CLASSES)


@keras.saving.register_keras_serializable(package="chest_xray_lab")
def set_cross_entropy(allowed: tf.Tensor, probabilities: tf.Tensor) -> tf.Tensor:
    """-log of the probability given to the classes a label allows: the usual cross-entropy for a class label, and
    -log(P(bacterial) + P(viral)) for a pneumonia of unknown type. `allowed` holds 0/1 rows (classes.target_sets)."""
    return -ops.log(ops.sum(allowed * probabilities, axis=-1) + keras.backend.epsilon())


@keras.saving.register_keras_serializable(package="chest_xray_lab")
def set_accuracy(allowed: tf.Tensor, probabilities: tf.Tensor) -> tf.Tensor:
    """1 where the top class is one the label allows."""
    top = ops.argmax(probabilities, axis=-1)
    return ops.take_along_axis(allowed, ops.expand_dims(top, -1), axis=-1)[:, 0]


def balanced_weights(labels: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Sample weights (mean 1): every label weighs the same in total, and so does each source within a label."""
    weights = np.zeros(len(labels))
    for label in np.unique(labels):
        in_label = labels == label
        cells = np.unique(sources[in_label])
        for source in cells:
            cell = in_label & (sources == source)
            weights[cell] = 1.0 / (len(cells) * cell.sum())
    return weights * len(labels) / weights.sum()


class EpochPrinter(keras.callbacks.Callback):
    """One line per epoch: which fit, which epoch, and the loss and accuracy so far."""

    def __init__(self, stage: str, epochs: int):
        super().__init__()
        self.stage, self.epochs = stage, epochs

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        shown = " ".join(f"{k}={v:.4f}" for k, v in (logs or {}).items())
        print(f"{self.stage} epoch {epoch + 1}/{self.epochs} {shown}", flush=True)


def _fit(model: keras.Model, x: np.ndarray, targets: np.ndarray, weights: np.ndarray, epochs: int, stage: str, seed: int,
         validation: tuple[np.ndarray, np.ndarray] | None = None, augment: bool = False) -> dict:
    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=set_cross_entropy,
                  metrics=[keras.metrics.MeanMetricWrapper(set_accuracy, name="accuracy")])
    data = tf.data.Dataset.from_tensor_slices((x, targets, weights.astype(np.float32))).shuffle(len(x), seed=seed)
    if augment:  # mirrored X-rays: heart side flips, but texture and opacity patterns stay
        data = data.map(lambda image, target, weight: (tf.image.random_flip_left_right(image, seed=seed), target, weight))
    history = model.fit(data.batch(BATCH_SIZE), epochs=epochs, validation_data=validation, verbose=0, shuffle=False,
                        callbacks=[EpochPrinter(stage, epochs)])
    return {k: [float(v) for v in values] for k, values in history.history.items()}


def _feature_copies(extractor: keras.Model, images: np.ndarray, copies: int, seed: int) -> list[np.ndarray]:
    """Features of each image, of its mirror image, and of `copies` versions as other sources might have made them."""
    print(f"computing {extractor.name} features for {len(images)} images, their mirror images and {copies} restyled copies", flush=True)
    rng = np.random.default_rng(seed)
    versions = [images, images[:, :, ::-1]]
    for k in range(copies):
        restyled = np.stack([augment.imitate_another_source(image[:, :, 0].astype(np.uint8), rng) for image in images])
        restyled = np.repeat(restyled[..., None], 3, axis=3).astype(np.float32)
        versions.append(restyled[:, :, ::-1] if k % 2 == 0 else restyled)
    return [extractor.predict(v, batch_size=BATCH_SIZE, verbose=0) for v in versions]


@dataclass(frozen=True)
class Recipe:
    """How a head is trained on the features; scripts/recipe_search.py compares recipes across sources."""
    restyled_copies: int = 2  # extra copies of each image, restyled as another source might make it (frozen backbones)
    balanced: bool = True  # each label weighs the same, and each source within a label
    coarse_label: bool = True  # train on pneumonia_unspecified with the set loss, else leave those images out
    intensity: str = CLAHE  # per-image intensity normalisation before the network (core/imaging/preprocess.py)

    def describe(self) -> dict:
        return {
            "head": "standardised pooled features -> dropout 0.2 -> L2 (0.01) softmax; Adam 1e-3, batch 32",
            "loss": "cross-entropy; a coarse label (pneumonia_unspecified) rewards P(bacterial) + P(viral)"
                    if self.coarse_label else "cross-entropy; images with a coarse label left out",
            "sample_weights": "each label weighs the same, and each source within a label" if self.balanced else "none",
            "feature_copies": "plain, mirrored"
            + (f", {self.restyled_copies} restyled as by another source" if self.restyled_copies else ""),
            "intensity_normalisation": "CLAHE on each image before the network" if self.intensity == CLAHE else self.intensity,
            **asdict(self),
        }


class Trainer:
    """Fits one fold or the final model for a backbone; features of frozen backbones are cached."""

    def __init__(self, backbone: str, images: np.ndarray, labels: np.ndarray, sources: np.ndarray, epochs: int, seed: int,
                 recipe: Recipe = Recipe()):
        self.backbone, self.images, self.labels, self.sources = backbone, images, labels, sources
        self.epochs, self.seed, self.recipe = epochs, seed, recipe
        self.targets = target_sets(labels)
        self.extractor = build_feature_extractor(backbone, images.shape[1], None if backbone == "small_cnn" else "imagenet")
        self.frozen = backbone != "small_cnn"
        if self.frozen:
            self.feature_copies = _feature_copies(self.extractor, images, recipe.restyled_copies, seed)
            self.features = self.feature_copies[0]
        self.stamped_for_testing = augment.with_burned_in_labels(images, seed)

    def _training_set(self, train_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The indices the recipe trains on, and their sample weights."""
        if not self.recipe.coarse_label:
            train_idx = train_idx[self.labels[train_idx] < N_CLASSES]
        if not self.recipe.balanced:
            return train_idx, np.ones(len(train_idx))
        return train_idx, balanced_weights(self.labels[train_idx], self.sources[train_idx])

    def fit_head(self, train_idx: np.ndarray, stage: str, val_idx: np.ndarray | None = None) -> tuple[keras.Model, dict]:
        """A frozen backbone's head (features -> probabilities) trained on train_idx, and its history."""
        train_idx, weights = self._training_set(train_idx)
        copies = self.feature_copies[:2 + self.recipe.restyled_copies]
        x = np.concatenate([f[train_idx] for f in copies])
        head = build_head(self.features.shape[1], N_CLASSES, feature_sample=x)
        val = None if val_idx is None else (self.features[val_idx], self.targets[val_idx])
        history = _fit(head, x, np.tile(self.targets[train_idx], (len(copies), 1)), np.tile(weights, len(copies)),
                       self.epochs, stage, self.seed, val)
        return head, history

    def fit(self, train_idx: np.ndarray, stage: str, val_idx: np.ndarray | None = None) -> tuple[keras.Model, dict]:
        """Train on train_idx; returns the full pixels-to-probabilities model and its history."""
        if self.frozen:
            head, history = self.fit_head(train_idx, stage, val_idx)
            return attach_head(self.extractor, head), history
        train_idx, weights = self._training_set(train_idx)
        keras.utils.set_random_seed(self.seed)
        extractor = build_feature_extractor(self.backbone, self.images.shape[1], None)
        model = attach_head(extractor, build_head(extractor.output.shape[-1], N_CLASSES))
        val = None if val_idx is None else (self.images[val_idx], self.targets[val_idx])
        history = _fit(model, self.images[train_idx], self.targets[train_idx], weights, self.epochs, stage, self.seed, val,
                       augment=True)
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
    oof = np.zeros((len(trainer.labels), N_CLASSES), dtype=np.float64)
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
    exact = trainer.labels < N_CLASSES
    checks = {**shortcut.summarise(masses[exact], trainer.labels[exact]),
              "burned_in_label_test": shortcut.label_sensitivity(trainer.labels[exact], oof[exact], oof_stamped[exact])}
    return oof, fold_of, histories, checks


def leave_one_source_out(trainer: Trainer, patients: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each image's probabilities from a model trained on every other source, and whether that model's
    not-a-chest-X-ray check (fitted on the other sources too) rejected it."""
    probabilities = np.zeros((len(trainer.labels), N_CLASSES))
    rejected = np.zeros(len(trainer.labels), dtype=bool)
    for source, (train_idx, test_idx) in source_splits(trainer.sources).items():
        model, _ = trainer.fit(train_idx, f"leave out {source}")
        probabilities[test_idx] = trainer.predict(model, test_idx)
        features = trainer.features_of(model)
        detector, _ = fit_ood(features[train_idx], grouped_folds(trainer.labels[train_idx], patients[train_idx], k, seed))
        rejected[test_idx] = detector.score(features[test_idx]) > detector.threshold
    return probabilities, rejected


def linear_probe_baseline(trainer: Trainer, folds: list[tuple[np.ndarray, np.ndarray]]) -> dict | None:
    """The baseline to beat: logistic regression on the frozen backbone's last pooled layer, by the same folds
    (images with a class label only)."""
    if not trainer.frozen:
        return None
    last = trainer.extractor.get_layer(FEATURE_LAYERS[trainer.backbone][-1]).output.shape[-1]
    features, labels = trainer.features[:, -last:], trainer.labels
    oof = np.zeros((len(labels), N_CLASSES))
    for train_idx, val_idx in folds:
        train_idx = train_idx[labels[train_idx] < N_CLASSES]
        probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000)).fit(features[train_idx], labels[train_idx])
        oof[val_idx] = probe.predict_proba(features[val_idx])
    figures = _cv_figures(labels, oof, _fold_numbers(folds, len(labels)))
    return {"recipe": f"standardised logistic regression (C=0.1) on pooled {FEATURE_LAYERS[trainer.backbone][-1]} features",
            **{k: figures[k] for k in ("accuracy", "macro_f1", "covid19_recall")}}


def _fold_numbers(folds: list[tuple[np.ndarray, np.ndarray]], n: int) -> np.ndarray:
    fold_of = np.zeros(n, dtype=int)
    for k, (_, val_idx) in enumerate(folds):
        fold_of[val_idx] = k
    return fold_of


def _cv_figures(labels: np.ndarray, oof: np.ndarray, fold_of: np.ndarray) -> dict:
    """Mean and spread over folds, and pooled figures, on the images with a class label."""
    exact = labels < N_CLASSES
    labels, oof, fold_of = labels[exact], oof[exact], fold_of[exact]
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
    return detector, {"threshold": detector.threshold, "cv_false_rejection_rate": float(np.mean(held_out > detector.threshold)),
                      "held_out_rejected": held_out > detector.threshold}


def validation_by_source(samples: list[Sample], labels: np.ndarray, oof: np.ndarray, cv_rejected: np.ndarray,
                         loso: tuple[np.ndarray, np.ndarray] | None, audit: dict) -> dict:
    """Per-source figures of the grouped folds and of leave-one-source-out, with the aims they are held to."""
    sources, ages = np.array([s.source for s in samples]), np.array([s.age_group for s in samples])
    grouped = {"headline": by_source.headline(labels, oof, ages), "per_source": by_source.per_source(labels, oof, sources, cv_rejected)}
    out = {"grouped_by": "patient", "sources": {s: int((sources == s).sum()) for s in sorted(set(sources))},
           "grouped_cv": grouped, "source_audit": audit}
    if loso is not None:
        probabilities, rejected = loso
        out["leave_one_source_out"] = {
            "headline": by_source.headline(labels, probabilities, ages),
            "accuracy": by_source.figures(labels, probabilities)["accuracy"],
            "per_source": by_source.per_source(labels, probabilities, sources, rejected),
        }
        out["aims"] = by_source.check_aims(out["leave_one_source_out"], grouped)
    return out


def build_card(args: argparse.Namespace, samples: list[Sample], labels: np.ndarray, oof: np.ndarray,
               fold_of: np.ndarray, temperature: float, operating_point: dict, ood_summary: dict,
               probe: dict | None, shortcut_summary: dict, validation: dict, recipe: Recipe) -> ModelCard:
    """The card of a model about to be saved (save_bundle adds the SHA-256 of its files)."""
    exact = labels < N_CLASSES
    return ModelCard(
        card_version=CARD_VERSION,
        name=Path(args.out).name,
        backbone=args.backbone,
        classes=CLASSES,
        input_size=args.img_size,
        input="0-255 greyscale pixels resized to a square, intensity-normalised as `intensity` says, replicated to 3 "
              "channels; scaling to the backbone's range is inside the model",
        intensity=recipe.intensity,
        training_data={
            "source": str(Path(args.data_dir)),
            "n": len(samples),
            "counts": {name: int((labels == i).sum()) for i, name in enumerate(LABEL_NAMES) if np.any(labels == i)},
            "by_source": _population(samples),
        },
        recipe=recipe.describe(),
        cross_validation={
            "folds": args.folds, "seed": args.seed, "grouped_by": "patient",
            **_cv_figures(labels, oof, fold_of),
            "figures_are": "out-of-fold estimates on the training images (folds grouped by patient), not an independent test set",
        },
        validation=validation,
        baseline_linear_probe=probe,
        shortcut_check=shortcut_summary,
        calibration=Calibration(
            temperature=temperature,
            ece_before=classification_summary(labels[exact], oof[exact])["ece"],
            ece_after=classification_summary(labels[exact], calibration.apply_temperature(oof[exact], temperature))["ece"],
        ),
        threshold=operating_point["threshold"],
        ood=OodSummary(**ood_summary),
        abstention=operating_point,
        epochs=args.epochs,
        training_command="python -m core.cli.train " + " ".join(shlex.quote(a) for a in args.argv),
        trained_at=datetime.date.today().isoformat(),
        versions={"tensorflow": tf.__version__, "keras": keras.__version__},
        training_files=tuple({"file": s.relative_path, "sha256": s.sha256 or sha256_of(s.path)} for s in samples),
        exhibit=None,
    )


def _population(samples: list[Sample]) -> dict[str, dict]:
    """For each source: how many images, of which labels and which age groups."""
    out: dict[str, dict] = {}
    for s in samples:
        entry = out.setdefault(s.source, {"n": 0, "labels": {}, "age_groups": {}})
        entry["n"] += 1
        entry["labels"][LABEL_NAMES[s.label]] = entry["labels"].get(LABEL_NAMES[s.label], 0) + 1
        entry["age_groups"][s.age_group] = entry["age_groups"].get(s.age_group, 0) + 1
    return dict(sorted(out.items()))


def read_training_set(data_dir: str) -> list[Sample]:
    """A manifest dataset as its manifest lists it; a plain folder-per-class one as one source, one image a patient."""
    if has_manifest(data_dir):
        return read_manifest(data_dir)
    return [Sample(s.path, s.relative_path, s.label, Path(data_dir).name, s.relative_path, "unknown") for s in scan_dataset(data_dir)]


def train(args: argparse.Namespace) -> ModelCard:
    """Cross-validate (grouped by patient) and leave each source out, calibrate, choose the abstention threshold,
    train on everything, and write the folder."""
    samples = read_training_set(args.data_dir)
    labels, patients = labels_of(samples), np.array([s.patient for s in samples])
    if np.bincount(labels[labels < N_CLASSES], minlength=N_CLASSES).min() < args.folds:
        raise DatasetError(f"{args.data_dir}: every class needs at least {args.folds} images for {args.folds}-fold cross-validation")
    print(f"loading {len(samples)} images at {args.img_size}x{args.img_size}", flush=True)
    recipe = Recipe(restyled_copies=args.restyled_copies if args.backbone != "small_cnn" else 0, intensity=args.intensity)
    images = load_images(samples, args.img_size, intensity=recipe.intensity)
    trainer = Trainer(args.backbone, images, labels, np.array([s.source for s in samples]), args.epochs, args.seed, recipe)
    folds = grouped_folds(labels, list(patients), args.folds, args.seed)
    oof, fold_of, histories, shortcut_checks = cross_validate(trainer, folds)
    probe = linear_probe_baseline(trainer, folds)
    exact = labels < N_CLASSES
    temperature = calibration.fit_temperature(labels[exact], oof[exact])
    operating_point = abstention.choose_threshold(labels[exact], calibration.apply_temperature(oof[exact], temperature))
    loso = leave_one_source_out(trainer, patients, args.folds, args.seed) if len(set(trainer.sources)) > 1 else None
    model, final_history = trainer.fit(np.arange(len(labels)), "final (all images)")
    features = trainer.features_of(model)
    detector, ood_summary = fit_ood(features, folds)
    audit = by_source.source_audit(features, labels, trainer.sources, folds) if loso is not None else None
    calibrated_loso = None if loso is None else (calibration.apply_temperature(loso[0], temperature), loso[1])
    validation = validation_by_source(samples, labels, calibration.apply_temperature(oof, temperature),
                                      ood_summary.pop("held_out_rejected"), calibrated_loso, audit)
    card = build_card(args, samples, labels, oof, fold_of, temperature, operating_point, ood_summary, probe,
                      shortcut_checks, validation, recipe)
    return save_bundle(Path(args.out), model, card, detector, prediction_rows(samples, oof, fold_of, loso),
                       {"folds": histories, "final": final_history})


def prediction_rows(samples: list[Sample], oof: np.ndarray, fold_of: np.ndarray,
                    loso: tuple[np.ndarray, np.ndarray] | None) -> list[dict]:
    """One row per training image: its label, source, fold and out-of-fold probabilities (raw softmax), and with
    several sources the probabilities of the model that never saw its source."""
    rows = []
    for i, s in enumerate(samples):
        row = {"path": s.relative_path, "true": LABEL_NAMES[s.label], "fold": int(fold_of[i]) + 1, "source": s.source,
               "patient": s.patient, "age_group": s.age_group, "probabilities": dict(zip(CLASS_NAMES, map(float, oof[i])))}
        if loso is not None:
            row["left_out_probabilities"] = dict(zip(CLASS_NAMES, map(float, loso[0][i])))
            row["left_out_not_a_chest_xray"] = bool(loso[1][i])
        rows.append(row)
    return rows

