"""95 % confidence intervals for a share (accuracy, recall) measured on few images: the Wilson score interval."""
from scipy.stats import binomtest


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """(low, high) of the Wilson score interval for successes out of n; None when n is 0."""
    if n == 0:
        return None
    interval = binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)
