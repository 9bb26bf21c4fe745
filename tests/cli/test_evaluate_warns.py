"""`python -m core.cli.evaluate` says when its figures are inflated by the model's own training images, and scores
the three questions on a pneumonia of unknown type."""
import json
import shutil

import cv2
import numpy as np

from core.classes import LABEL_NAMES
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


def test_a_pneumonia_of_unknown_type_counts_for_the_first_two_questions_with_intervals(multisource_dir, tmp_path, capsys):
    for label in LABEL_NAMES:
        (tmp_path / label).mkdir()
        for path in sorted((multisource_dir / label).iterdir())[:1]:
            (tmp_path / label / path.name).symlink_to(path)
    assert evaluate.main([str(tmp_path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    kept = summary["n"] - summary["not_a_chest_xray"]
    questions = summary["questions"]
    assert questions["abnormal"]["n"] == kept  # the unknown type is abnormal
    assert questions["pneumonia_type"]["n"] <= 2  # only the typed pneumonias say bacterial or viral
    assert sum(map(sum, summary["confusion_matrix"])) == summary["n"] - 1  # no single right class for the unknown type
    for figures in questions.values():
        low_high = figures["right_ci"]
        assert low_high is None if not figures["n_answered"] else low_high[0] <= figures["right"] <= low_high[1]
