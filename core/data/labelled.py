"""Labelled image files (a folder per class, or a ZIP) decoded one at a time as they are read."""
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from core.classes import CLASS_NAMES
from core.data.folders import scan_dataset
from core.hashing import sha256_of
from core.imaging.decode import ImageDecodeError, read_image_file


@dataclass(frozen=True)
class LabelledImage:
    name: str  # relative path shown to users
    label: int  # index into the label names it was read with (CLASS_NAMES, or LABEL_NAMES with coarse labels)
    pixels: np.ndarray | None  # decoded greyscale; None when the file could not be read
    error: str = ""  # why it could not be read
    sha256: str = ""  # of the file's bytes, to recognise the model's own training files


@dataclass(frozen=True)
class LabelledFiles:
    """Labelled image files decoded one at a time as they are iterated, so that one image's pixels are held at a time."""
    count: int
    decode: Callable[[], Iterator[LabelledImage]]

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[LabelledImage]:
        return self.decode()


def read_labelled_folder(root: str, names: tuple[str, ...] = CLASS_NAMES) -> LabelledFiles:
    """The images of a folder-per-label dataset (refused now if the folder is not one); unreadable files are listed,
    not fatal."""
    samples = scan_dataset(root, names)

    def decode() -> Iterator[LabelledImage]:
        for sample in samples:
            try:
                pixels = read_image_file(sample.path).pixels
                yield LabelledImage(sample.relative_path, sample.label, pixels, sha256=sha256_of(sample.path))
            except ImageDecodeError as err:
                yield LabelledImage(sample.relative_path, sample.label, None, str(err))

    return LabelledFiles(len(samples), decode)
