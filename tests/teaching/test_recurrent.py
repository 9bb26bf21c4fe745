"""The character RNN reproduces the course slide; the LSTM agrees with keras.layers.LSTM."""
import keras
import numpy as np
import pytest

from core.teaching.recurrent import (
    B_H,
    LSTM_GATES,
    VOCAB,
    W_HH,
    W_HY,
    W_XH,
    default_lstm_params,
    lstm_steps,
    one_hot,
    rnn_steps,
)


def test_one_hot():
    np.testing.assert_array_equal(one_hot("e"), [0, 1, 0, 0])
    with pytest.raises(ValueError, match="'x' is not in the vocabulary h, e, l, o"):
        one_hot("x")


def test_rnn_matches_the_slide():
    h1, h2 = rnn_steps("he", W_XH, W_HH, B_H, W_HY)
    np.testing.assert_allclose(h1.h, [0.693168, 0.899554, 0.802118], atol=1e-5)
    np.testing.assert_allclose(h2.h, [0.936534, 0.949104, 0.762341], atol=1e-5)
    np.testing.assert_allclose(h2.y, [1.906077, 1.137791, 0.956660, 1.274226], atol=1e-5)
    np.testing.assert_allclose(h2.pre_activation, W_HH * h1.h + B_H + W_XH[:, 1])
    assert h2.probs.sum() == pytest.approx(1)
    assert h2.next_char == VOCAB[int(np.argmax(h2.y))] == "h"


def test_scalar_recurrent_weight_equals_scaled_identity():
    by_scalar = rnn_steps("hello", W_XH, W_HH, B_H, W_HY)
    by_matrix = rnn_steps("hello", W_XH, W_HH * np.eye(3), B_H, W_HY)
    for a, b in zip(by_scalar, by_matrix, strict=True):
        np.testing.assert_allclose(a.h, b.h)


def test_rnn_rejects_unknown_characters_and_empty_text():
    with pytest.raises(ValueError, match="not in the vocabulary"):
        rnn_steps("help")
    with pytest.raises(ValueError, match="empty"):
        rnn_steps("")


def test_lstm_matches_keras():
    params, text = default_lstm_params(), "hello"
    steps = lstm_steps(text)
    layer = keras.layers.LSTM(3, return_sequences=True, return_state=True)
    layer.build((1, len(text), len(VOCAB)))
    layer.set_weights([  # Keras stacks the gates side by side in the order i, f, c, o
        np.concatenate([params.W[g].T for g in LSTM_GATES], axis=1),
        np.concatenate([params.U[g].T for g in LSTM_GATES], axis=1),
        np.concatenate([params.b[g] for g in LSTM_GATES]),
    ])
    x = np.stack([one_hot(c) for c in text])[None].astype(np.float32)
    hidden_seq, _, last_cell = (t.numpy() for t in layer(x))
    np.testing.assert_allclose([s.hidden for s in steps], hidden_seq[0], atol=1e-5)
    np.testing.assert_allclose(steps[-1].cell, last_cell[0], atol=1e-5)


def test_lstm_gates_are_in_range_and_deterministic():
    steps = lstm_steps("hell")
    for s in steps:
        for gate in (s.forget, s.input, s.output):
            assert np.all((gate > 0) & (gate < 1))
        assert np.all(np.abs(s.candidate) < 1)
        np.testing.assert_allclose(s.hidden, s.output * np.tanh(s.cell))
    np.testing.assert_allclose(steps[1].cell, steps[1].forget * steps[0].cell + steps[1].input * steps[1].candidate)
    np.testing.assert_array_equal(steps[-1].hidden, lstm_steps("hell")[-1].hidden)
