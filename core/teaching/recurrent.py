"""A character RNN and a small LSTM over the vocabulary h, e, l, o, step by step in plain numpy.

The RNN uses the course slide's weights, so each hidden state and output can be checked by hand:
    h_t = tanh(W_hh h_{t-1} + b + W_xh x_t),   y_t = W_hy h_t,   p_t = softmax(y_t)
"""
from dataclasses import dataclass

import numpy as np

from core.teaching.convolution import sigmoid, softmax

VOCAB: tuple[str, ...] = ("h", "e", "l", "o")

# The slide's weights: 4 one-hot inputs -> 3 hidden units -> 4 output scores.
W_XH = np.array([
    [0.287027, 0.84606, 0.572392, 0.486813],
    [0.902874, 0.871522, 0.691079, 0.18998],
    [0.537524, 0.09224, 0.558159, 0.491528],
])
W_HH = 0.427043  # one scalar on the slide, shared by every hidden unit
B_H = 0.567001
W_HY = np.array([
    [0.37168, 0.974829459, 0.830034886],
    [0.39141, 0.282585823, 0.659835709],
    [0.64985, 0.09821557, 0.334287084],
    [0.91266, 0.32581642, 0.144630018],
])
W_XH.setflags(write=False)
W_HY.setflags(write=False)


def one_hot(char: str) -> np.ndarray:
    """The one-hot vector of a vocabulary character, e.g. 'e' -> [0, 1, 0, 0]."""
    if char not in VOCAB:
        raise ValueError(f"{char!r} is not in the vocabulary {', '.join(VOCAB)}")
    x = np.zeros(len(VOCAB))
    x[VOCAB.index(char)] = 1.0
    return x


def _one_hots(text: str) -> list[np.ndarray]:
    if not text:
        raise ValueError(f"text is empty: type at least one of {', '.join(VOCAB)}")
    return [one_hot(c) for c in text]


@dataclass(frozen=True)
class RnnStep:
    """Everything the RNN computes when it reads one character."""
    char: str
    x: np.ndarray  # one-hot input x_t
    pre_activation: np.ndarray  # W_hh h_{t-1} + b + W_xh x_t
    h: np.ndarray  # hidden state h_t
    y: np.ndarray  # output scores y_t
    probs: np.ndarray  # softmax(y_t)
    next_char: str  # the most likely next character


def rnn_steps(
    text: str,
    W_xh: np.ndarray = W_XH,
    W_hh: float | np.ndarray = W_HH,
    b: float | np.ndarray = B_H,
    W_hy: np.ndarray = W_HY,
    h0: np.ndarray | None = None,
) -> list[RnnStep]:
    """Run the RNN over `text`; W_hh may be a scalar (as on the slide) or a hidden x hidden matrix."""
    h = np.zeros(np.shape(W_xh)[0]) if h0 is None else np.asarray(h0, dtype=float)
    steps = []
    for char, x in zip(text, _one_hots(text), strict=True):
        recurrent = W_hh * h if np.ndim(W_hh) == 0 else np.asarray(W_hh) @ h
        pre = recurrent + b + W_xh @ x
        h = np.tanh(pre)
        y = W_hy @ h
        probs = softmax(y)
        steps.append(RnnStep(char, x, pre, h, y, probs, VOCAB[int(np.argmax(probs))]))
    return steps


# ----------------------------------------------------------------------------- LSTM

LSTM_GATES = ("input", "forget", "candidate", "output")  # Keras' order: i, f, c, o


@dataclass(frozen=True)
class LstmParams:
    """Per-gate weights: W[g] is hidden x input, U[g] is hidden x hidden, b[g] has length hidden."""
    W: dict[str, np.ndarray]
    U: dict[str, np.ndarray]
    b: dict[str, np.ndarray]


def default_lstm_params(hidden: int = 3, seed: int = 0) -> LstmParams:
    """Small seeded random weights, for illustration only: this LSTM is not trained."""
    rng = np.random.default_rng(seed)
    n_in = len(VOCAB)
    return LstmParams(
        W={g: rng.normal(0, 0.5, (hidden, n_in)) for g in LSTM_GATES},
        U={g: rng.normal(0, 0.5, (hidden, hidden)) for g in LSTM_GATES},
        b={g: rng.normal(0, 0.1, hidden) for g in LSTM_GATES},
    )


@dataclass(frozen=True)
class LstmStep:
    """The gates and states of the LSTM after reading one character."""
    char: str
    x: np.ndarray
    forget: np.ndarray  # f_t = sigmoid(W_f x_t + U_f h_{t-1} + b_f): how much old cell to keep
    input: np.ndarray  # i_t = sigmoid(...): how much of the candidate to write
    candidate: np.ndarray  # g_t = tanh(...): the new content on offer
    output: np.ndarray  # o_t = sigmoid(...): how much of the cell to show
    cell: np.ndarray  # c_t = f_t * c_{t-1} + i_t * g_t
    hidden: np.ndarray  # h_t = o_t * tanh(c_t)


def lstm_steps(text: str, params: LstmParams | None = None) -> list[LstmStep]:
    """Run an LSTM over `text`, starting from zero hidden and cell states."""
    p = default_lstm_params() if params is None else params
    h = np.zeros(len(p.b["forget"]))
    c = np.zeros_like(h)
    steps = []
    for char, x in zip(text, _one_hots(text), strict=True):
        z = {g: p.W[g] @ x + p.U[g] @ h + p.b[g] for g in LSTM_GATES}
        f, i, o = sigmoid(z["forget"]), sigmoid(z["input"]), sigmoid(z["output"])
        g = np.tanh(z["candidate"])
        c = f * c + i * g
        h = o * np.tanh(c)
        steps.append(LstmStep(char, x, f, i, g, o, c, h))
    return steps
