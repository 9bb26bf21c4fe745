"""Recurrent cell: the course's character RNN one step at a time, with editable weights, and an LSTM's gates."""
import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from core.teaching.recurrent import B_H, VOCAB, W_HH, W_HY, W_XH, RnnStep, default_lstm_params, lstm_steps, rnn_steps
from ui.classroom_sidebar import page_context
from ui.common import route_through_app
from ui.projector import edit_numbers, intro_with_switch, show_chart, show_table, sized

route_through_app()

HIDDEN = [f"h{i + 1}" for i in range(W_XH.shape[0])]
DEFAULT_TEXT = "hell"  # the course's example: a trained model reading h, e, l, l predicts e, l, l, o
COURSE_TARGET = "ello"  # what the course's trained model predicts after reading "hell"
SHORT, FULL = 3, 6  # decimals shown, and shown when asked (the slide's precision)


def decimals() -> int:
    return FULL if st.session_state.get("all_decimals") else SHORT


def vec(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:.{decimals()}f}" for v in values) + "]"


def weights_key(name: str) -> str:
    """A weight widget's key; a reset gives every weight widget a new key, so each starts again at the slide's value."""
    return f"{name}_{st.session_state.get('weights_version', 0)}"


def reset_weights() -> None:
    st.session_state["weights_version"] = st.session_state.get("weights_version", 0) + 1


def edit_matrix(values: np.ndarray, rows: list[str], columns: list[str], key: str) -> np.ndarray:
    """An editable weight matrix; a cleared cell counts as 0."""
    frame = pd.DataFrame(values, index=rows, columns=columns)
    matrix = edit_numbers(frame, weights_key(key), number_format=f"%.{decimals()}f").to_numpy(dtype=float)
    if np.isnan(matrix).any():
        st.warning("Empty cells count as 0.")
    return np.nan_to_num(matrix)


def read_text() -> str | None:
    text = st.text_input(f"Characters to read, from {', '.join(VOCAB)}", DEFAULT_TEXT, max_chars=12, key="text").strip().lower()
    unknown = sorted(set(text) - set(VOCAB))
    if not text:
        st.info(f"Type at least one of {', '.join(VOCAB)}.")
        return None
    if unknown:
        st.error(f"{', '.join(repr(c) for c in unknown)} not in the vocabulary: use only {', '.join(VOCAB)}.")
        return None
    return text


def prediction_caption(text: str, steps: list[RnnStep]) -> str:
    """What the network predicts now, and how much of it is right, in words."""
    predicted = "".join(s.next_char for s in steps)
    target = COURSE_TARGET if text == DEFAULT_TEXT else text[1:]
    right = sum(p == t for p, t in zip(predicted, target, strict=False))  # the last prediction has no next character
    said = f"Reading '{text}', the network predicts '{', '.join(predicted)}' as the next characters. "
    if not target:
        return said + "Type more than one character to compare its predictions with the next ones."
    goal = ("the course's answer 'e, l, l, o'" if text == DEFAULT_TEXT
            else f"the characters that really come next, '{', '.join(target)}' (the last step has nothing to match)")
    if right == len(target):
        return said + f"All {right} match {goal}: these weights have learned this text."
    return (said + f"{right} of {len(target)} match {goal}. Edit W_hy (or W_xh) until they all do: that is what "
            "training does, by gradient descent.")


def rnn_section(text: str) -> None:
    a, b, c = st.columns([2, 2, 3], vertical_alignment="center")
    a.button("Reset to the slide's weights", on_click=reset_weights, key="reset_weights")
    b.toggle(f"Show {FULL} decimals", key="all_decimals")
    c.caption("Edit any weight; every number is recomputed. The starting values are the slide's.")
    left, right = st.columns([2, 3])  # the weights beside what they change
    with left:
        st.markdown("**W_xh**: input (one-hot character) → hidden")
        w_xh = edit_matrix(np.array(W_XH), HIDDEN, list(VOCAB), "w_xh")
        st.markdown("**W_hy**: hidden → output score per character")
        w_hy = edit_matrix(np.array(W_HY), [f"y_{c}" for c in VOCAB], HIDDEN, "w_hy")
        c, d = st.columns(2)
        w_hh = c.number_input("W_hh: hidden → hidden", value=W_HH, step=0.01, format=f"%.{decimals()}f", key=weights_key("w_hh"),
                              help="One number on the slide, shared by every unit")
        b = d.number_input("b: bias of the hidden units", value=B_H, step=0.01, format=f"%.{decimals()}f", key=weights_key("b"))
    with right:
        st.latex(r"h_t = \tanh(W_{hh}\,h_{t-1} + b + W_{xh}\,x_t)")
        st.latex(r"y_t = W_{hy}\,h_t \qquad p_t = \mathrm{softmax}(y_t)")
        steps = rnn_steps(text, w_xh, w_hh, b, w_hy)
        results_table(steps)
        st.markdown(prediction_caption(text, steps))
    step_detail(text, steps, w_xh)


def results_table(steps: list[RnnStep]) -> None:
    """What the network computes at each step, and the character it predicts next."""
    summary = pd.DataFrame({
        "t: reads": [f"{t}: '{s.char}'" for t, s in enumerate(steps, start=1)],
        "h_t": [vec(s.h) for s in steps],
        "y_t": [vec(s.y) for s in steps],
        "predicts": [s.next_char for s in steps],
        "p(next)": [f"{s.probs.max():.1%}" for s in steps],
    })
    st.table(summary, hide_index=True)


def step_detail(text: str, steps: list[RnnStep], w_xh: np.ndarray) -> None:
    """One step's sums written out, beside the chart of what it predicts next."""
    sums, chart = st.columns([3, 2])
    with sums:
        t = st.slider("Step to open", 1, len(steps), 1, key="rnn_step") if len(steps) > 1 else 1
    step, h_prev = steps[t - 1], steps[t - 2].h if t > 1 else np.zeros(len(HIDDEN))
    sums.markdown(f"#### Step {t}: reading '{step.char}'")
    sums.markdown(
        f"- x_{t} = one-hot('{step.char}') = `{step.x.astype(int).tolist()}`\n"
        f"- h_{t - 1} = `{vec(h_prev)}`\n"
        f"- W_xh x_{t} = `{vec(w_xh @ step.x)}` (column '{step.char}' of W_xh)\n"
        f"- W_hh h_{t - 1} + b + W_xh x_{t} = `{vec(step.pre_activation)}`\n"
        f"- **h_{t} = tanh(…) = `{vec(step.h)}`**\n"
        f"- y_{t} = W_hy h_{t} = `{vec(step.y)}`\n"
        f"- softmax(y_{t}) = `{vec(step.probs)}` → most likely next character: **'{step.next_char}'**"
    )
    probs = pd.DataFrame({"character": VOCAB, "probability": step.probs})
    fig = px.bar(probs, x="character", y="probability", range_y=[0, 1])
    fig.update_layout(margin=dict(l=10, r=10, t=20, b=10))  # room for half the top tick label
    with chart:  # the title above the chart, as text: a title inside the figure was clipped by Streamlit's theme
        st.markdown(f"**After reading '{text[:t]}':** how likely is each character to come next?")
        show_chart(sized(fig), key="rnn_next_chart")


def lstm_section(text: str) -> None:
    st.markdown(
        "An LSTM keeps a second state, the cell c_t, and three gates decide what happens to it: the **forget** gate "
        "how much of the previous cell to keep, the **input** gate how much of the new candidate to write, the **output** gate "
        "how much of the cell to show as h_t. Its weights here are small seeded random numbers (it is not trained), "
        "so watch how the gates move, not what it predicts.")
    st.latex(r"f_t, i_t, o_t = \sigma(W x_t + U h_{t-1} + b) \quad g_t = \tanh(\dots) \quad "
             r"c_t = f_t \odot c_{t-1} + i_t \odot g_t \quad h_t = o_t \odot \tanh(c_t)")
    steps = lstm_steps(text, default_lstm_params(hidden=len(HIDDEN)))
    rows = [{"t": t, "reads": s.char, "unit": unit, "forget f": s.forget[u], "input i": s.input[u],
             "candidate g": s.candidate[u], "output o": s.output[u], "cell c": s.cell[u], "hidden h": s.hidden[u]}
            for t, s in enumerate(steps, start=1) for u, unit in enumerate(HIDDEN)]
    table = pd.DataFrame(rows)
    gates = table.melt(id_vars=["t", "reads", "unit"], value_vars=["forget f", "input i", "output o"], var_name="gate")
    fig = px.line(gates, x="t", y="value", color="unit", facet_col="gate", markers=True, range_y=[0, 1],
                  hover_data=["reads"], title="How open each gate is after each character (0 = shut, 1 = wide open)")
    fig.update_xaxes(tickvals=list(range(1, len(steps) + 1)), ticktext=[f"{t}:'{c}'" for t, c in enumerate(text, start=1)])
    fig.update_layout(margin=dict(l=10, r=10, t=60, b=10))
    show_chart(sized(fig), key="lstm_gates_chart")
    show_table(table, {c: f"{{:.{decimals()}f}}" for c in table.columns[3:]})


intro_with_switch("The course's character model: the vocabulary h, e, l, o as one-hot vectors, three hidden units, "
                  "and the slide's weights. Every number is computed as you edit.")
slide_steps = rnn_steps(DEFAULT_TEXT, np.array(W_XH), W_HH, B_H, np.array(W_HY))
page_context("how a recurrent cell reads a sequence one character at a time, carrying a hidden state from step to "
             "step, and how an LSTM's gates decide what its cell keeps.", [
    f"The slide's W_hh = {W_HH}, b = {B_H}",
    f"After reading 'h': h_1 = `{vec(slide_steps[0].h)}`",
    f"Reading '{DEFAULT_TEXT}', the slide's weights predict '{', '.join(s.next_char for s in slide_steps)}'"])
text = read_text()
if text:
    st.header("A simple RNN, step by step")
    rnn_section(text)
    st.header("An LSTM on the same characters")
    lstm_section(text)
