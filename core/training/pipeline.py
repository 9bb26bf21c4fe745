"""Train a classifier, validate it across patients and sources, then train on all images and write models/<name>/.

    python -m core.cli.train DATA_DIR --out models/NAME [--backbone mobilenet_v2|resnet50|small_cnn] [--epochs N]
        [--img-size N] [--folds K] [--restyled-copies N] [--intensity none|clahe] [--border-crop S] [--seed S]

DATA_DIR holds one folder per label. With a manifest.csv (core/data/manifest.py), folds are grouped by patient, every
source is also left out once (with the folds inside each run), and coarse labels such as pneumonia_unspecified
train with a loss that rewards any class they allow. Transfer backbones stay frozen: their pooled features are
computed once (plus mirrored and restyled copies) and a linear softmax head is trained on them. small_cnn is
trained end to end from scratch. The three questions (core/model/questions.py) get their calibration and operating
points from the out-of-fold predictions.
"""
from pathlib import Path

import numpy as np

from core.classes import CLASSES, LABEL_NAMES
from core.data.folders import DatasetError, Sample, labels_of, load_images, scan_dataset
from core.data.manifest import grouped_folds, has_manifest, read_manifest
from core.evaluation import by_source
from core.model import abstention, calibration, ood
from core.model.bundle import save_bundle
from core.model.card import ModelCard, OodSummary
from core.training import questions
from core.training.card_building import Outcome, TrainSettings, build_card, prediction_rows, validation_by_source
from core.training.trainer import Trainer
from core.training.validation import (
    LeftOutRuns,
    cross_validate,
    fold_numbers,
    leave_one_source_out,
    linear_probe_baseline,
    ood_threshold,
)

DEFAULT_IMG_SIZE = {"mobilenet_v2": 224, "resnet50": 224, "small_cnn": 96}
DEFAULT_EPOCHS = {"mobilenet_v2": 40, "resnet50": 40, "small_cnn": 30}
N_CLASSES = len(CLASSES)


def read_training_set(data_dir: str) -> list[Sample]:
    """A manifest dataset as its manifest lists it; a plain folder-per-class one as one source, one image a patient."""
    if has_manifest(data_dir):
        return read_manifest(data_dir)
    return [Sample(s.path, s.relative_path, s.label, Path(data_dir).name, s.relative_path, "unknown")
            for s in scan_dataset(data_dir, LABEL_NAMES)]


def fit_ood(features: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], runs: LeftOutRuns | None,
            sources: np.ndarray) -> tuple[ood.OodDetector, OodSummary, np.ndarray]:
    """A detector on all training features. Its threshold keeps every left-out source's false rejections at most
    validation.LEFT_OUT_REFUSAL when sources were left out, else the held-out folds' OOD_QUANTILE; returns it, its
    summary, and which held-out-fold films it rejects."""
    held_out = ood.held_out_distances(features, folds)
    detector = ood.OodDetector.fit(features)
    detector.threshold = (float(np.quantile(held_out, ood.OOD_QUANTILE)) if runs is None
                          else ood_threshold(runs.distances, sources))
    left_out = {} if runs is None else {s: float(np.mean(runs.distances[sources == s] > detector.threshold))
                                        for s in sorted(set(sources))}
    rejected = held_out > detector.threshold
    return detector, OodSummary(detector.threshold, float(np.mean(rejected)), left_out), rejected


def train(settings: TrainSettings) -> ModelCard:
    """Cross-validate (grouped by patient) and leave each source out, calibrate, choose the operating points, train on
    everything, and write the folder."""
    samples = read_training_set(settings.data_dir)
    labels, patients = labels_of(samples), np.array([s.patient for s in samples])
    sources, ages = np.array([s.source for s in samples]), np.array([s.age_group for s in samples])
    if np.bincount(labels[labels < N_CLASSES], minlength=N_CLASSES).min() < settings.folds:
        raise DatasetError(f"{settings.data_dir}: every class needs at least {settings.folds} images for "
                           f"{settings.folds}-fold cross-validation")
    print(f"loading {len(samples)} images at {settings.img_size}x{settings.img_size}", flush=True)
    images = load_images(samples, settings.img_size, intensity=settings.recipe.intensity)
    trainer = Trainer(settings.backbone, images, labels, sources, settings.epochs, settings.seed, settings.recipe)
    folds = grouped_folds(labels, list(patients), settings.folds, settings.seed)
    oof, histories, shortcut_checks = cross_validate(trainer, folds)
    exact = labels < N_CLASSES
    temperature = calibration.fit_temperature(labels[exact], oof[exact])
    calibrated = calibration.apply_temperature(oof, temperature)
    rules = questions.fit_rules(labels, calibrated)
    runs = leave_one_source_out(trainer, folds) if len(set(sources)) > 1 else None
    model, final_history = trainer.fit(np.arange(len(labels)), "final (all images)")
    features = trainer.features_of(model)
    detector, ood_summary, cv_rejected = fit_ood(features, folds, runs, sources)
    calibrated_runs = None if runs is None else {s: calibration.apply_temperature(p, temperature) for s, p in runs.probabilities.items()}
    loso = None if runs is None else (calibration.apply_temperature(runs.own_source(sources), temperature),
                                      runs.distances > detector.threshold)
    rejected = None if loso is None else loso[1]
    audit = None if runs is None else by_source.source_audit(features, labels, sources, folds)
    outcome = Outcome(
        oof=oof, fold_of=fold_numbers(folds, len(labels)), temperature=temperature,
        operating_point=abstention.choose_threshold(labels[exact], calibrated[exact]), ood=ood_summary,
        probe=linear_probe_baseline(trainer, folds), shortcut=shortcut_checks,
        validation=validation_by_source(samples, labels, calibrated, cv_rejected, loso, audit),
        questions=questions.validate(rules, questions.Films.of(labels, sources, ages), calibrated, calibrated_runs))
    card = build_card(settings, samples, labels, outcome)
    return save_bundle(Path(settings.out), model, card, detector, prediction_rows(samples, oof, outcome.fold_of, runs, rejected),
                       {"folds": histories, "final": final_history})
