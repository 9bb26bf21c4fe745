"""Temperature scaling: one scalar T, fitted on out-of-fold predictions, that makes confidences honest."""
import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T): T > 1 softens over-confident probabilities, T < 1 sharpens them."""
    logits = np.log(np.clip(probabilities, 1e-12, 1.0))
    return softmax(logits / temperature, axis=-1)


def fit_temperature(y_true: np.ndarray, probabilities: np.ndarray) -> float:
    """The T in [0.05, 20] that minimises the negative log-likelihood of the true classes."""
    logits = np.log(np.clip(probabilities, 1e-12, 1.0))

    def nll(temperature: float) -> float:
        return -log_softmax(logits / temperature, axis=1)[np.arange(len(y_true)), y_true].mean()

    return float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded").x)
