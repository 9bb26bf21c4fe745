"""Fit each question's calibration and operating point on out-of-fold predictions, and validate it: on the grouped
folds, and on each left-out source where the other sources can teach the question, paired as described.

A pairing scores a left-out source's films with the films it is compared against, all predicted in the same
leave-one-source-out run: the left-out source by a model that never saw it, the others by one that never saw
their patients (core/training/validation.py).
"""
from dataclasses import dataclass

import numpy as np

from core.data.manifest import PAEDIATRIC
from core.evaluation.question_figures import figures_from_classes
from core.model import questions as q
from core.model.card import LeftOutFigures, QuestionFigures, QuestionValidation

MIN_TEACHING = 30  # a run can teach a question when its training side holds this many films of each answer
MIN_SCORED = 10  # a pairing is scored when it holds this many films of each answer
FEW = 30  # fewer films than this of an answer in an age group: that population was never validated


def fit_rules(labels: np.ndarray, calibrated_oof: np.ndarray) -> dict[str, q.QuestionRule]:
    """Platt scaling and cut-offs for each question, from temperature-calibrated out-of-fold class probabilities."""
    raw, truth = q.raw_probabilities(calibrated_oof), q.truths(labels)
    rules = {}
    for question in q.QUESTIONS:
        known = ~np.isnan(truth[question.name])
        y, r = truth[question.name][known], raw[question.name][known]
        slope, intercept = q.fit_calibration(r, y)
        p = q.QuestionRule(slope, intercept, 0.0, 1.0).probability(r)
        rules[question.name] = q.QuestionRule(slope, intercept, *q.choose_cut_offs(p, y, question.target))
    return rules


@dataclass(frozen=True)
class Films:
    """What the validation needs to know of each training film."""
    labels: np.ndarray
    sources: np.ndarray
    adult: np.ndarray  # adult or of unknown age (not paediatric)

    @classmethod
    def of(cls, labels: np.ndarray, sources: np.ndarray, ages: np.ndarray) -> "Films":
        return cls(np.asarray(labels), np.asarray(sources), np.asarray(ages) != PAEDIATRIC)


def _figures(rule: q.QuestionRule, name: str, labels: np.ndarray, probabilities: np.ndarray) -> QuestionFigures:
    return QuestionFigures(**figures_from_classes(rule, name, labels, probabilities))


def _can_teach(truth: np.ndarray, train: np.ndarray, films: Films, scored: np.ndarray) -> bool:
    """Whether the training side holds MIN_TEACHING films of each answer in every age group that MIN_SCORED of the
    scored films are of (leave Kermany out and no child is left to teach a question about children)."""
    for adult in (True, False):
        if np.sum(scored & (films.adult == adult)) < MIN_SCORED:
            continue
        group = train & (films.adult == adult)
        if min(np.sum(truth[group] == 1), np.sum(truth[group] == 0)) < MIN_TEACHING:
            return False
    return True


def _names(sources: np.ndarray) -> str:
    return ", ".join(sorted(set(sources)))


def pairings(name: str, films: Films) -> list[tuple[str, str, np.ndarray]]:
    """(left-out source, what was paired, films scored) for each left-out source the other sources can teach this
    question: the source's own films of both answers when it has enough, else its films of one answer against the
    adult films of the other answer from the other sources."""
    truth = q.truths(films.labels)[name]
    out = []
    for source in sorted(set(films.sources)):
        own = films.sources == source
        yes, no = own & (truth == 1), own & (truth == 0)
        if not _can_teach(truth, ~own, films, yes | no):
            continue
        if min(yes.sum(), no.sum()) >= MIN_SCORED:
            out.append((source, f"{source}'s films of both answers, source left out", yes | no))
        elif yes.sum() >= MIN_SCORED or no.sum() >= MIN_SCORED:
            mine, answer = (yes, 1) if yes.sum() >= MIN_SCORED else (no, 0)
            others = ~own & films.adult & (truth == 1 - answer)
            if answer == 1:  # a source's abnormal or COVID-19 films are scored against adult normal films
                others &= films.labels == q.NORMAL
            out.append((source, f"{source}'s films (source left out) against adult {'normal ' if answer else ''}films "
                                f"of the other answer from {_names(films.sources[others])} (patients held out, same run)",
                        mine | others))
    return out


def never_validated_on(name: str, films: Films) -> tuple[str, ...]:
    """Populations too thin to validate the question on: an age group with fewer than FEW films of an answer, or
    with FEW or more from one source only."""
    question, truth = q.question(name), q.truths(films.labels)[name]
    notes = []
    for group, members in (("adult", films.adult), ("paediatric", ~films.adult)):
        for answer, word in ((1, question.yes), (0, question.no)):
            cell = members & (truth == answer)
            sources, counts = np.unique(films.sources[cell], return_counts=True)
            if cell.sum() < FEW:
                notes.append(f"{group} films answered {word}: {int(cell.sum())} in training")
            elif np.sum(counts >= FEW) == 1:
                main = sources[np.argmax(counts)]
                notes.append(f"{group} films answered {word}: {int(counts.max())} of {int(cell.sum())} from one source ({main})")
    return tuple(notes)


def validate(rules: dict[str, q.QuestionRule], films: Films, oof: np.ndarray,
             runs: dict[str, np.ndarray] | None) -> dict[str, QuestionValidation]:
    """Every question's figures from calibrated probabilities: out-of-fold (all films and per source), and on each
    left-out pairing when leave-one-source-out runs are given."""
    out = {}
    for question in q.QUESTIONS:
        rule = rules[question.name]
        left_out = () if runs is None else tuple(
            LeftOutFigures(source, paired, _figures(rule, question.name, films.labels[scored], runs[source][scored]))
            for source, paired, scored in pairings(question.name, films))
        by_source = {s: _figures(rule, question.name, films.labels[films.sources == s], oof[films.sources == s])
                     for s in sorted(set(films.sources))}
        out[question.name] = QuestionValidation(
            rule=rule, target=question.target, grouped_cv=_figures(rule, question.name, films.labels, oof),
            grouped_cv_by_source={s: f for s, f in by_source.items() if f.n},
            left_out=left_out, never_validated_on=never_validated_on(question.name, films))
    return out
