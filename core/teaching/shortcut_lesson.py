"""The shortcut-learning lesson: which models and films it uses, and the figures each model card gives about
validation on the hospitals a model saw against those it never saw. Every figure is read from a card."""
import pandas as pd

from core.model.card import ModelCard
from core.paths import MODELS_DIR

EXHIBIT_DIR = MODELS_DIR / "single_source"  # trained on one child hospital and adult COVID-19 films
ADULT_SAMPLES = ("Adult healthy", "Adult pneumonia", "Adult COVID-19")  # names in core.data.samples
HEADLINE_FIGURES = {  # card key -> plain words
    "adult_non_covid19_called_covid19": "Adult films without COVID-19 called COVID-19",
    "adult_normal_called_healthy": "Adult healthy films called Healthy",
    "covid19_recall": "COVID-19 films called COVID-19",
}
SEEN = "Hospitals it trained on (folds grouped by patient)"
UNSEEN = "A hospital left out of training"


def validation_table(card: ModelCard) -> pd.DataFrame | None:
    """The card's headline figures on hospitals seen in training beside those on a hospital left out; None when
    the model was never validated across hospitals."""
    if card.loso_accuracy is None:
        return None
    left_out = card.validation.leave_one_source_out if card.validation else None
    assert card.validation is not None and left_out is not None  # loso_accuracy comes from them
    seen, unseen = card.validation.grouped_cv.headline, left_out.headline
    rows = [{"Figure": "Accuracy (films whose class is known)", SEEN: card.cv_accuracy, UNSEEN: card.loso_accuracy}]
    rows += [{"Figure": words, SEEN: getattr(seen, key), UNSEEN: getattr(unseen, key)} for key, words in HEADLINE_FIGURES.items()]
    return pd.DataFrame(rows)
