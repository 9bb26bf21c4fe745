"""How well each of the three questions is answered on a group of films: AUROC, coverage and right answers at the
operating point, calibration. The same figures for training validation, `core.cli.evaluate` and the pages."""
import numpy as np
from sklearn.metrics import roc_auc_score

from core.model.questions import QuestionRule, raw_probabilities, truths


def binary_ece(truth: np.ndarray, probability: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of a yes/no probability: the bin-weighted gap between the mean probability and
    the share of yes (equal-width bins)."""
    which = np.clip((probability * bins).astype(int), 0, bins - 1)
    return float(sum(abs(truth[which == b].mean() - probability[which == b].mean()) * np.mean(which == b)
                     for b in range(bins) if np.any(which == b)))


def _share(hits: np.ndarray) -> float | None:
    return float(hits.mean()) if hits.size else None


def question_figures(truth: np.ndarray, probability: np.ndarray, rule: QuestionRule) -> dict:
    """Figures on the films whose truth is known (NaN truths are left out): n, positives, AUROC (None without both
    answers), coverage, the share of answered films answered right (and per answer), ECE."""
    known = ~np.isnan(truth)
    y, p = truth[known].astype(int), probability[known]
    codes = rule.answer_codes(p)
    answered = codes >= 0
    return {
        "n": int(len(y)),
        "n_positive": int(y.sum()),
        "auroc": float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else None,
        "coverage": _share(answered),
        "right": _share(codes[answered] == y[answered]),
        "yes_right": _share(y[codes == 1] == 1),
        "no_right": _share(y[codes == 0] == 0),
        "n_answered": int(answered.sum()),
        "ece": binary_ece(y, p) if len(y) else None,
    }


def figures_from_classes(rule: QuestionRule, name: str, labels: np.ndarray, probabilities: np.ndarray) -> dict:
    """question_figures for question `name`, from (N, 4) calibrated class probabilities and the films' labels."""
    return question_figures(truths(labels)[name], rule.probability(raw_probabilities(probabilities)[name]), rule)
