"""One uploaded file's analysis, kept threshold-free so that moving the threshold never re-runs the network.

A Diagnosis keeps what the Diagnose page needs, not the file: a display-size copy of the image (with its DICOM
values at that size, for re-windowing), a copy at the network's input size for the maps asked for later, the
probabilities and the maps. A 48 MB DICOM keeps about 5 MB.
"""
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from core.imaging.decode import DecodedImage, decode_image
from core.imaging.preprocess import resize_for_model
from core.imaging.viewing import display_copy
from core.model.abstention import NOT_A_CHEST_XRAY, decide_status
from core.model.questions import QuestionAnswer
from core.serving.answers import film_status
from core.serving.classifier import Classifier
from core.serving.lung_focus import looked_outside_lungs
from core.serving.saliency import Explainer, GradCAM

MAX_KEPT = 30  # analyses one session keeps on the Diagnose page; the oldest goes first


def upload_key(name: str, data: bytes) -> str:
    """SHA-256 of a file's name and bytes: the same upload gets the same key on every rerun."""
    return hashlib.sha256(name.encode() + b"\0" + data).hexdigest()


@dataclass(eq=False)
class Diagnosis:
    key: str
    decoded: DecodedImage  # display-size copy (viewing.display_copy): the original's name, format and metadata
    probabilities: np.ndarray  # calibrated, registry order
    is_chest_xray: bool
    model_pixels: np.ndarray = field(repr=False)  # uint8 (input_size, input_size): what the network's input came from
    answers: dict[str, QuestionAnswer] | None = None  # the three answers; None when not a chest X-ray
    ood_score: float = 0.0  # distance from the training films (Analysis.ood_score)
    looked_outside: bool = False  # the top class's Grad-CAM lay mostly outside the lungs
    analysed_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    maps: dict[tuple[type[Explainer], int], np.ndarray] = field(default_factory=dict, repr=False)  # (method, class) -> [0, 1]

    @property
    def top(self) -> int:
        return int(np.argmax(self.probabilities))

    def status(self, threshold: float) -> str:
        """The four-class reading's status at a threshold (a detail beside the three answers)."""
        return decide_status(self.probabilities, threshold, self.is_chest_xray)

    @property
    def film_status(self) -> str:
        """answers.ANSWERED, READ_WITH_CARE, UNANSWERED or REFUSED."""
        return film_status(self.answers, self.is_chest_xray, self.looked_outside)

    def has_map(self, method: type[Explainer], class_index: int) -> bool:
        return (method, class_index) in self.maps

    def saliency_map(self, classifier: Classifier, method: type[Explainer], class_index: int) -> np.ndarray:
        """Where the network found evidence for class_index (the classifier's explainer, without a new prediction);
        computed once per (method, class), then reused."""
        if not self.has_map(method, class_index):
            model_input = classifier.model_input(self.model_pixels)[None]
            self.maps[method, class_index] = classifier.explainer(method)(model_input, class_index)[0]
        return self.maps[method, class_index]


def diagnose(classifier: Classifier, name: str, data: bytes) -> Diagnosis:
    """Decode in memory (ImageDecodeError on bad input) and run the hot path: probabilities, the three answers, OOD
    check, Grad-CAM and whether it lay on the lungs.
    The full-size decoded image is let go on return."""
    decoded = decode_image(data, name)
    model_pixels = resize_for_model(decoded.pixels, classifier.input_size)
    analysis = classifier.analyse(model_pixels)  # the same input as from decoded.pixels (resize_for_model)
    assert analysis.cam is not None  # analyse always explains the top class
    is_chest_xray = analysis.status != NOT_A_CHEST_XRAY
    diagnosis = Diagnosis(upload_key(name, data), display_copy(decoded), analysis.probabilities, is_chest_xray,
                          model_pixels, analysis.questions, analysis.ood_score,
                          is_chest_xray and looked_outside_lungs(analysis.cam))
    diagnosis.maps[GradCAM, analysis.top] = analysis.cam
    return diagnosis
