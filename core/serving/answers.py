"""The three answers in words, as the page, the batch table, the CSV and the PDF say them: what the model answers
for one film, where its cut-offs sit, how it did on hospitals it never saw (from the model card), and the film's
status. A status never reads as approval: "Answered" is the best a film gets."""
from core.model.card import QuestionValidation
from core.model.questions import INCONCLUSIVE, QuestionAnswer, question
from core.serving.probability_text import probability_text

ANSWERED, READ_WITH_CARE, UNANSWERED, REFUSED = "answered", "read_with_care", "unanswered", "not_a_chest_xray"
FILM_STATUS_TEXT = {ANSWERED: "Answered", READ_WITH_CARE: "Read with care", UNANSWERED: "Inconclusive",
                    REFUSED: "Not a chest X-ray"}
CANNOT_TELL = "cannot tell"
WORDS = {"yes": "likely", "no": "unlikely", "bacterial": "bacterial more likely", "viral": "viral more likely",
         INCONCLUSIVE: CANNOT_TELL}
OUTSIDE_LUNGS = ("The network's map for its top class lay mostly outside the lungs (a border, a label or a marker?): "
                 "the status is lowered to Read with care.")
TITLES = {"covid19": "COVID-19 pattern", "abnormal": "Abnormal", "pneumonia_type": "Pneumonia type"}
TABLE_TITLES = {"covid19": "COVID-19", "abnormal": "Abnormal", "pneumonia_type": "Pneumonia type"}  # narrow columns


def film_status(answers: dict[str, QuestionAnswer] | None, is_chest_xray: bool, looked_outside: bool) -> str:
    """REFUSED when not a chest X-ray, else READ_WITH_CARE when the map lay outside the lungs, else ANSWERED when any
    question has an answer, else UNANSWERED (also for a model that predates the three questions)."""
    if not is_chest_xray:
        return REFUSED
    if looked_outside:
        return READ_WITH_CARE
    return ANSWERED if answers and any(a.answer != INCONCLUSIVE for a in answers.values()) else UNANSWERED


def answer_word(answer: QuestionAnswer) -> str:
    """E.g. "likely", "unlikely", "bacterial more likely", "cannot tell"."""
    return WORDS[answer.answer]


def probability_phrase(answer: QuestionAnswer) -> str:
    """The probability the answer reads: "4.0 %", or for the pneumonia type "bacterial 64.0 %"."""
    shown = probability_text(answer.probability)
    return f"{question(answer.name).yes} {shown}" if answer.name == "pneumonia_type" else shown


def answer_line(answer: QuestionAnswer) -> str:
    """E.g. "COVID-19 pattern: unlikely (4.0 %)"."""
    return f"{TITLES[answer.name]}: {answer_word(answer)} ({probability_phrase(answer)})"


def cut_off_text(name: str, validation: QuestionValidation) -> str:
    """Where the answers change, e.g. "likely at 89 % or more, unlikely at 47 % or less" (between: cannot tell)."""
    q, rule = question(name), validation.rule
    return f"{WORDS[q.yes]} at {rule.high:.0%} or more, {WORDS[q.no]} at {rule.low:.0%} or less".replace("%", " %")


NEVER_TESTED = "never tested on a hospital it never saw"


def unseen_range(validation: QuestionValidation) -> str:
    """The range of right-answer shares over the sources left out of training, e.g. "28.9 % to 97.8 % of its answers
    were right (4 left-out sources)"; NEVER_TESTED when no source could be left out."""
    rights = [r.figures.right for r in validation.left_out if r.figures.right is not None]
    if not rights:
        return NEVER_TESTED
    low, high = min(rights), max(rights)
    span = f"{low:.1%}" if len(rights) == 1 else f"{low:.1%} to {high:.1%}"
    return f"{span} of its answers were right ({len(rights)} left-out sources)".replace("%", " %")


def unseen_text(validation: QuestionValidation) -> str:
    """How often its answers were right on sources left out of training, in a clause."""
    shares = unseen_range(validation)
    return shares if shares == NEVER_TESTED else f"on hospitals it never saw, {shares}"


def base_rate(n: int, n_positive: int) -> float | None:
    """The share right when always giving the commoner answer (what a right-answer share must beat); None without
    films."""
    return max(n_positive, n - n_positive) / n if n else None


def unseen_details(validation: QuestionValidation) -> list[str]:
    """One plain sentence per left-out source: right share, share answered, the base rate to beat, and AUROC."""
    lines = []
    for run in validation.left_out:
        f = run.figures
        if f.right is None:
            continue
        lines.append(f"{run.source}: {f.right:.1%} right of the {f.coverage:.1%} answered; always giving the "
                     f"commoner answer would be right on {base_rate(f.n, f.n_positive):.1%}; AUROC {f.auroc:.2f} "
                     f"(0.5 is chance). Scored on {run.paired}.".replace("%", " %"))
    return lines


def never_validated_text(validation: QuestionValidation) -> str:
    """The populations the question was never validated on, in one sentence ("" when none)."""
    if not validation.never_validated_on:
        return ""
    return "Never validated on: " + "; ".join(validation.never_validated_on) + "."
