"""`python -m core.cli.evaluate` says when its figures are inflated by the model's own training images."""
import shutil

import cv2
import numpy as np

from core.cli import evaluate
from core.imaging.phantom import chest_phantom


def test_evaluating_training_images_prints_a_warning(multisource_dir, tmp_path, capsys):
    for label in ("normal", "covid19"):
        (tmp_path / label).mkdir()
        for path in sorted((multisource_dir / label).iterdir())[:2]:
            shutil.copy(path, tmp_path / label / path.name)
    assert evaluate.main([str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "warning: 4 of 4 images are files the model was trained on" in err and "inflated" in err


def test_images_the_model_never_saw_get_no_warning(tmp_path, capsys):
    (tmp_path / "normal").mkdir()
    for size in (256, 300):  # drawn phantoms: files no model was trained on
        cv2.imwrite(str(tmp_path / "normal" / f"phantom{size}.png"), (chest_phantom(size) * 255).astype(np.uint8))
    assert evaluate.main([str(tmp_path)]) == 0
    assert "trained on" not in capsys.readouterr().err
