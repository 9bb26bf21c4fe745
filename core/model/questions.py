"""Three questions the data can answer, each read from the four-class probabilities, with its own calibration and
operating point (no TensorFlow here).

- covid19: is there a COVID-19 pattern?           P(COVID-19)
- abnormal: is the film abnormal (any pneumonia)?  1 - P(Healthy)
- pneumonia_type: if a pneumonia, which kind?      P(bacterial) / (P(bacterial) + P(viral))

Each derived probability is recalibrated by Platt scaling (a logistic fit on its log-odds, out-of-fold) and answered
by two cut-offs: at or above `high` the answer is yes (bacterial), at or below `low` no (viral), between them
inconclusive. The cut-offs are chosen on out-of-fold predictions so that each kind of answer is right at least as
often as the question's target (fit_calibration and choose_cut_offs here; core/training/questions.py runs them on a
model's predictions; the card stores the result).
"""
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from core.classes import CLASS_NAMES, LABEL_NAMES, PNEUMONIA_UNSPECIFIED

COVID, NORMAL = CLASS_NAMES.index("covid19"), CLASS_NAMES.index("normal")
BACTERIAL, VIRAL = CLASS_NAMES.index("bacterial_pneumonia"), CLASS_NAMES.index("viral_pneumonia")
INCONCLUSIVE = "inconclusive"
EPSILON = 1e-6


@dataclass(frozen=True)
class Question:
    name: str  # API key
    title: str  # what users read
    yes: str  # answer at or above the high cut-off
    no: str  # answer at or below the low cut-off
    target: float  # share of right answers each kind of answer must reach on out-of-fold films


QUESTIONS: tuple[Question, ...] = (
    Question("covid19", "COVID-19 pattern", "yes", "no", 0.95),
    Question("abnormal", "Abnormal (any pneumonia)", "yes", "no", 0.90),
    Question("pneumonia_type", "Pneumonia type", "bacterial", "viral", 0.93),
)
QUESTION_NAMES: tuple[str, ...] = tuple(q.name for q in QUESTIONS)


def question(name: str) -> Question:
    return QUESTIONS[QUESTION_NAMES.index(name)]


def raw_probabilities(probabilities: np.ndarray) -> dict[str, np.ndarray]:
    """Each question's probability read from (N, 4) class probabilities, before its own calibration."""
    p = np.atleast_2d(probabilities).astype(np.float64)
    pneumonia = p[:, BACTERIAL] + p[:, VIRAL]
    return {"covid19": p[:, COVID], "abnormal": 1.0 - p[:, NORMAL],
            "pneumonia_type": p[:, BACTERIAL] / np.maximum(pneumonia, EPSILON)}


def truths(labels: np.ndarray) -> dict[str, np.ndarray]:
    """Each question's answer for each label as 1.0 / 0.0, NaN where the label does not answer it (a film that is
    not a typed pneumonia says nothing of bacterial versus viral)."""
    labels = np.asarray(labels)
    unspecified = LABEL_NAMES.index(PNEUMONIA_UNSPECIFIED)
    kind = np.full(len(labels), np.nan)
    kind[labels == BACTERIAL], kind[labels == VIRAL] = 1.0, 0.0
    return {"covid19": (labels == COVID).astype(float), "abnormal": (labels != NORMAL).astype(float),
            "pneumonia_type": np.where(labels == unspecified, np.nan, kind)}


def log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPSILON, 1 - EPSILON)
    return np.log(p / (1 - p))


@dataclass(frozen=True)
class QuestionRule:
    """One question's calibration (Platt: sigmoid(slope * log-odds + intercept)) and operating point."""
    slope: float
    intercept: float
    low: float  # at or below: the `no` answer
    high: float  # at or above: the `yes` answer

    def probability(self, raw: np.ndarray | float) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.slope * log_odds(np.asarray(raw, dtype=np.float64)) + self.intercept)))

    def answer_codes(self, probability: np.ndarray | float) -> np.ndarray:
        """1 (yes), 0 (no) or -1 (inconclusive) for each calibrated probability."""
        probability = np.asarray(probability)
        return np.where(probability >= self.high, 1, np.where(probability <= self.low, 0, -1))


@dataclass(frozen=True)
class QuestionAnswer:
    name: str
    probability: float  # calibrated; for pneumonia_type P(bacterial | pneumonia)
    answer: str  # the question's yes / no word, or "inconclusive"

    def to_json(self) -> dict:
        return {"probability": self.probability, "answer": self.answer}


def answer_word(q: Question, code: int) -> str:
    return {1: q.yes, 0: q.no}.get(int(code), INCONCLUSIVE)


def answer_all(rules: dict[str, QuestionRule], probabilities: np.ndarray) -> dict[str, QuestionAnswer]:
    """The three answers for one image's (4,) calibrated class probabilities, in question order."""
    raw = raw_probabilities(probabilities)
    out = {}
    for q in QUESTIONS:
        p = float(rules[q.name].probability(raw[q.name])[0])
        out[q.name] = QuestionAnswer(q.name, p, answer_word(q, int(rules[q.name].answer_codes(p))))
    return out


def fit_calibration(raw: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Platt scaling: (slope, intercept) of a logistic fit of the truth on the raw probability's log-odds."""
    model = LogisticRegression(C=1e4, max_iter=1000).fit(log_odds(raw)[:, None], truth.astype(int))
    return float(model.coef_[0, 0]), float(model.intercept_[0])


CUT_GRID = np.round(np.arange(0.0, 1.0001, 0.01), 2)


def choose_cut_offs(probability: np.ndarray, truth: np.ndarray, target: float) -> tuple[float, float]:
    """The (low, high) cut-offs that answer the most films while each kind of answer (yes, no) is right at least
    `target` of the time; (0.0, 1.0) answers only certainties when nothing reaches it."""
    order = np.argsort(probability)
    p, y = probability[order], truth[order]
    # films answered no at each low cut (p <= low) and how many of them are truly negative; likewise for yes
    n_no = np.searchsorted(p, CUT_GRID, side="right")
    neg_no = np.concatenate([[0], np.cumsum(1 - y)])[n_no]
    n_yes = len(p) - np.searchsorted(p, CUT_GRID, side="left")
    pos_yes = np.concatenate([[0], np.cumsum(y[::-1])])[n_yes]
    no_ok = (n_no == 0) | (neg_no >= target * n_no)
    yes_ok = (n_yes == 0) | (pos_yes >= target * n_yes)
    lows = [(n, c) for n, c, ok in zip(n_no, CUT_GRID, no_ok, strict=True) if ok and c <= 0.5]
    highs = [(n, c) for n, c, ok in zip(n_yes, CUT_GRID, yes_ok, strict=True) if ok and c >= 0.5]
    low = max(lows, key=lambda pair: (pair[0], -pair[1]))[1] if lows else 0.0
    high = max(highs, key=lambda pair: (pair[0], pair[1]))[1] if highs else 1.0
    return float(low), float(high)
