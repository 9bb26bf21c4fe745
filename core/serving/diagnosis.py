"""One uploaded file's analysis, kept threshold-free so that moving the threshold never re-runs the network."""
import hashlib
from dataclasses import dataclass, field

import numpy as np

from core.imaging.decode import DecodedImage, decode_image
from core.model.abstention import NOT_A_CHEST_XRAY, decide_status
from core.serving.classifier import Classifier
from core.serving.saliency import SaliencyExplainer

GRADCAM = "gradcam"  # the method core.serving.classifier computes in the same pass as the prediction


def upload_key(name: str, data: bytes) -> str:
    """SHA-256 of a file's name and bytes: the same upload gets the same key on every rerun."""
    return hashlib.sha256(name.encode() + b"\0" + data).hexdigest()


@dataclass(eq=False)
class Diagnosis:
    key: str
    decoded: DecodedImage
    probabilities: np.ndarray  # calibrated, registry order
    is_chest_xray: bool
    maps: dict[tuple[str, int], np.ndarray] = field(default_factory=dict, repr=False)  # (method, class) -> [0, 1]

    @property
    def top(self) -> int:
        return int(np.argmax(self.probabilities))

    def status(self, threshold: float) -> str:
        return decide_status(self.probabilities, threshold, self.is_chest_xray)

    def has_map(self, method: str, class_index: int) -> bool:
        return (method, class_index) in self.maps

    def saliency_map(self, classifier: Classifier, method: str, class_index: int,
                     explainer: SaliencyExplainer | None = None) -> np.ndarray:
        """Where the network found evidence for class_index; computed once per (method, class), then reused."""
        if not self.has_map(method, class_index):
            if method == GRADCAM:
                cam = classifier.analyse(self.decoded.pixels, explain_class=class_index).cam
            elif explainer is None:
                raise ValueError(f"{method} needs a SaliencyExplainer")
            else:
                cam = explainer.explain(classifier.model_input(self.decoded.pixels), class_index, method)
            self.maps[method, class_index] = cam
        return self.maps[method, class_index]


def diagnose(classifier: Classifier, name: str, data: bytes) -> Diagnosis:
    """Decode in memory (ImageDecodeError on bad input) and run the hot path: probabilities, OOD check, Grad-CAM."""
    decoded = decode_image(data, name)
    analysis = classifier.analyse(decoded.pixels)
    diagnosis = Diagnosis(upload_key(name, data), decoded, analysis.probabilities, analysis.status != NOT_A_CHEST_XRAY)
    diagnosis.maps[GRADCAM, analysis.explained_class] = analysis.cam
    return diagnosis
