"""Normal use leaves the server's terminal quiet: no TensorFlow retracing warning, no Keras warning, no progress bar,
whatever the number of films in a pass and whichever explanation is asked for."""
import logging
import warnings

import numpy as np

from core.imaging.decode import read_image_file
from core.serving.saliency import METHODS


def test_uploads_batches_and_every_explanation_print_nothing(classifier, xray_paths, capfd, caplog):
    films = [read_image_file(path).pixels for paths in xray_paths.values() for path in paths[:2]]
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        for film in films:
            top = classifier.analyse(film).top
        for size in (1, 2, 3, 5, 7):  # a new batch size must not retrace
            classifier.classify_batch(films[:size])
        model_input = classifier.model_input(films[0])[None]
        for method in METHODS:
            for class_index in range(2):
                assert classifier.explainer(method)(model_input, class_index).shape[0] == 1
        classifier.explainer(METHODS[0], "block_13_expand_relu")(np.repeat(model_input, 3, axis=0), top)
    out, err = capfd.readouterr()
    assert not [str(w.message) for w in caught]
    assert not [r.getMessage() for r in caplog.records]
    assert (out, err) == ("", "")  # no Keras progress bar (it writes "1/2 ━━━" to stdout)
