"""Why a file was refused as "not a chest X-ray", in words a user can act on: how far it sat from the training films,
and what about the picture itself looks unlike a frontal chest film."""
import numpy as np

WIDE, TALL = 1.6, 0.6  # width / height outside these is unlike any frontal chest film
FLAT_SPREAD = 12.0  # grey levels: a standard deviation below it is a nearly uniform picture
ADVICE = ("Use a frontal (PA or AP) chest film as the imaging system exports it (DICOM, or PNG/JPEG of the whole "
          "film): not a photo of a screen or of printed film, a lateral view, a CT slice, a document or a crop.")


def picture_hints(pixels: np.ndarray) -> list[str]:
    """What in a greyscale picture alone looks unlike a chest film (its shape, a uniform field)."""
    height, width = pixels.shape
    hints = []
    if not TALL <= width / height <= WIDE:
        hints.append(f"its shape, {width} × {height} pixels, is unlike a chest film (a crop, a strip or a scan of a page?)")
    if float(pixels.std()) < FLAT_SPREAD:
        hints.append("it is almost uniform grey (a blank, over-exposed or test image?)")
    return hints


def refusal_reason(pixels: np.ndarray, ood_score: float, ood_threshold: float) -> str:
    """One paragraph: what made the file look unusual, then what to upload instead."""
    times = ood_score / ood_threshold if ood_threshold > 0 else float("inf")
    said = [f"what the network sees in it lies {times:.1f} times as far from the chest X-rays it learned from as the "
            "farthest film it still accepts"] + picture_hints(pixels)
    return "Not analysed: " + "; ".join(said) + ". " + ADVICE
