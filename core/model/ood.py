""""Is this a chest X-ray at all?": cosine distance from the pooled features of the training images.

The score is the mean cosine distance to the k nearest training images. Chest X-rays of every class sit close
together in ImageNet feature space; photos, text, noise and flat fields sit far away. The threshold is set on
held-out folds (each image scored against the other folds only).
"""
import io
from dataclasses import dataclass

import numpy as np

NEIGHBOURS = 5
OOD_QUANTILE = 0.99  # the threshold accepts this share of held-out chest X-rays


def _unit(features: np.ndarray) -> np.ndarray:
    features = np.atleast_2d(features).astype(np.float32)
    return features / (np.linalg.norm(features, axis=1, keepdims=True) + 1e-12)


@dataclass
class OodDetector:
    reference: np.ndarray  # (N, F) unit-length training features
    threshold: float = float("inf")

    @classmethod
    def fit(cls, features: np.ndarray) -> "OodDetector":
        return cls(_unit(features))

    def score(self, features: np.ndarray) -> np.ndarray | float:
        """Mean cosine distance to the nearest training images for one (F,) or many (N, F) vectors."""
        distances = 1.0 - _unit(features) @ self.reference.T
        k = min(NEIGHBOURS, self.reference.shape[0])
        scores = np.sort(distances, axis=1)[:, :k].mean(axis=1)
        return float(scores[0]) if np.ndim(features) == 1 else scores

    def is_chest_xray(self, features: np.ndarray) -> bool:
        return bool(self.score(features) <= self.threshold)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, reference=self.reference.astype(np.float16), threshold=self.threshold)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "OodDetector":
        """The detector that to_bytes wrote (the bundle checks the bytes against the card first)."""
        arrays = np.load(io.BytesIO(data))
        return cls(arrays["reference"].astype(np.float32), float(arrays["threshold"]))


def held_out_distances(features: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Each image's score under a detector fitted on the other folds."""
    distances = np.zeros(len(features))
    for train_idx, val_idx in folds:
        distances[val_idx] = OodDetector.fit(features[train_idx]).score(features[val_idx])
    return distances
