"""Validation runs: folds grouped by patient, and each source left out (with folds inside, so that every film also
gets a prediction from a model that never saw its patient, for pairing a left-out source with held-out films of
another). Also the linear-probe baseline and the not-a-chest-X-ray threshold."""
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core.evaluation import shortcut
from core.evaluation.metrics import classification_summary, mean_and_std
from core.model import ood
from core.model.backbones import CAM_LAYER, FEATURE_LAYERS
from core.training.trainer import N_CLASSES, Trainer

LEFT_OUT_REFUSAL = 0.02  # at most this share of any left-out source's films may be called "not a chest X-ray"


def fold_numbers(folds: list[tuple[np.ndarray, np.ndarray]], n: int) -> np.ndarray:
    fold_of = np.zeros(n, dtype=int)
    for k, (_, val_idx) in enumerate(folds):
        fold_of[val_idx] = k
    return fold_of


def cross_validate(trainer: Trainer, folds: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, list[dict], dict]:
    """Out-of-fold probabilities, each fold's history, and the out-of-fold shortcut checks."""
    oof = np.zeros((len(trainer.labels), N_CLASSES), dtype=np.float64)
    oof_stamped = np.zeros_like(oof)
    masses = np.zeros(len(trainer.labels))
    histories = []
    for k, (train_idx, val_idx) in enumerate(folds):
        model, history = trainer.fit(train_idx, f"fold {k + 1}/{len(folds)}", val_idx)
        oof[val_idx] = trainer.predict(model, val_idx)
        oof_stamped[val_idx] = trainer.predict(model, val_idx, stamped=True)
        masses[val_idx] = shortcut.central_mass_of_images(model, CAM_LAYER[trainer.backbone], trainer.images[val_idx],
                                                          trainer.recipe.border_crop)
        histories.append({"fold": k + 1, **history})
    exact = trainer.labels < N_CLASSES
    checks = {**shortcut.summarise(masses[exact], trainer.labels[exact]),
              "burned_in_label_test": shortcut.label_sensitivity(trainer.labels[exact], oof[exact], oof_stamped[exact])}
    return oof, histories, checks


@dataclass(frozen=True)
class LeftOutRuns:
    """For each source S, every film predicted by a model trained on the other sources' other folds: S's films by a
    model that never saw S, the rest by one that never saw S nor their patient."""
    probabilities: dict[str, np.ndarray]  # source -> (N, classes), raw softmax
    distances: np.ndarray  # each film's not-a-chest-X-ray distance in its own source's run

    def own_source(self, sources: np.ndarray) -> np.ndarray:
        """(N, classes): each film from the run that left its own source out."""
        out = np.zeros_like(next(iter(self.probabilities.values())))
        for source, probabilities in self.probabilities.items():
            out[sources == source] = probabilities[sources == source]
        return out


def leave_one_source_out(trainer: Trainer, folds: list[tuple[np.ndarray, np.ndarray]]) -> LeftOutRuns:
    """Each source left out in turn, with the patient-grouped folds inside each run."""
    fold_of = fold_numbers(folds, len(trainer.labels))
    probabilities, distances = {}, np.zeros(len(trainer.labels))
    for source in sorted(set(trainer.sources)):
        out = np.zeros((len(trainer.labels), N_CLASSES))
        for k in range(len(folds)):
            train_idx = np.flatnonzero((trainer.sources != source) & (fold_of != k))
            test_idx = np.flatnonzero(fold_of == k)
            out[test_idx], features = trainer.held_out(train_idx, test_idx, f"leave out {source}, fold {k + 1}/{len(folds)}")
            left_out = test_idx[trainer.sources[test_idx] == source]
            distances[left_out] = ood.OodDetector.fit(features[train_idx]).score(features[left_out])
        probabilities[source] = out
    return LeftOutRuns(probabilities, distances)


def ood_threshold(left_out_distances: np.ndarray, sources: np.ndarray) -> float:
    """The lowest distance that takes at least 1 - LEFT_OUT_REFUSAL of every left-out source's films for chest X-rays."""
    return float(max(np.quantile(left_out_distances[sources == s], 1 - LEFT_OUT_REFUSAL, method="higher")
                     for s in set(sources)))


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
    figures = cv_figures(labels, oof, fold_numbers(folds, len(labels)))
    return {"recipe": f"standardised logistic regression (C=0.1) on pooled {FEATURE_LAYERS[trainer.backbone][-1]} features",
            **{k: figures[k] for k in ("accuracy", "macro_f1", "covid19_recall")}}


def cv_figures(labels: np.ndarray, oof: np.ndarray, fold_of: np.ndarray) -> dict:
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
