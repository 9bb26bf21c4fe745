"""Plotly figures for the Model performance page (no Streamlit here): matrix, curves, training history."""
import html

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from core.classes import CLASS_NAMES, DISPLAY_NAMES
from core.evaluation.performance import Curve, Reliability
from core.model.card_sections import Abstention
from core.serving.probability_text import probability_text

CLASS_COLOURS = qualitative.Plotly[:len(CLASS_NAMES)]
FOLD_COLOURS = qualitative.D3
MAX_HOVER_FILES = 12
CHANCE_LINE = {"dash": "dot", "color": "grey"}
LEGEND_BELOW = {"legend": {"orientation": "h", "x": 0, "y": -0.18, "yanchor": "top"}}  # never over the data


def _files_text(files: list[str]) -> str:
    shown = "<br>".join(html.escape(file) for file in files[:MAX_HOVER_FILES])  # names are text, not markup
    more = len(files) - MAX_HOVER_FILES
    return shown + (f"<br>… and {more} more" if more > 0 else "") if files else "(none)"


def confusion_figure(matrix: np.ndarray, cell_files: list[list[list[str]]], normalised: bool,
                     true_labels: tuple[str, ...] = DISPLAY_NAMES) -> go.Figure:
    """Heatmap with true labels down, predicted classes across; hover shows the value and the files in the cell."""
    value = "Share of the true label" if normalised else "Images"
    figure = go.Figure(go.Heatmap(
        z=matrix.tolist(), x=list(DISPLAY_NAMES), y=list(true_labels), colorscale="Blues", zmin=0,
        zmax=1 if normalised else None, texttemplate="%{z:.0%}" if normalised else "%{z}",
        customdata=[[_files_text(files) for files in row] for row in cell_files],
        hovertemplate=f"True: %{{y}}<br>Predicted: %{{x}}<br>{value}: %{{z{':.1%' if normalised else ''}}}"
                      "<br><br>%{customdata}<extra></extra>",
        colorbar={"title": {"text": "Share" if normalised else "Images"}}, hoverlabel={"align": "left"},
    ))
    figure.update_layout(xaxis_title="Predicted class", yaxis_title="True class", yaxis_autorange="reversed",
                         height=430, margin={"t": 30}, meta={"chart": "confusion_matrix"})
    return figure


def _threshold_texts(thresholds: np.ndarray) -> list[str]:
    return ["above every probability" if np.isinf(t) else probability_text(t) for t in thresholds]


def _curve_figure(curves: dict[int, Curve], area: str, x_name: str, y_name: str) -> go.Figure:
    """One line per class, hover giving the class, the threshold and both rates in %; the legend under the plot."""
    figure = go.Figure()
    for k, curve in curves.items():
        figure.add_trace(go.Scatter(
            x=curve.x.tolist(), y=curve.y.tolist(), mode="lines", line_color=CLASS_COLOURS[k],
            name=f"{DISPLAY_NAMES[k]} ({area} {curve.area:.3f})", customdata=_threshold_texts(curve.thresholds),
            hovertemplate=f"<b>{DISPLAY_NAMES[k]}</b><br>threshold %{{customdata}}<br>{x_name} %{{x:.1%}}<br>"
                          f"{y_name} %{{y:.1%}}<extra></extra>"))
    figure.update_layout(xaxis_title=x_name.capitalize(), yaxis_title=y_name.capitalize(), height=480,
                         xaxis_tickformat=".0%", yaxis_tickformat=".0%", margin={"b": 10}, **LEGEND_BELOW)
    return figure


def roc_figure(curves: dict[int, Curve]) -> go.Figure:
    figure = _curve_figure(curves, "AUC", "false positive rate", "true positive rate (recall)")
    figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=CHANCE_LINE, name="Chance", hoverinfo="skip"))
    figure.update_layout(title="ROC, one class against the rest")
    return figure


def pr_figure(curves: dict[int, Curve]) -> go.Figure:
    figure = _curve_figure(curves, "AP", "recall", "precision")
    figure.update_layout(title="Precision-recall, one class against the rest", yaxis_range=[0, 1.02])
    return figure


def reliability_figure(before: Reliability, after: Reliability, temperature: float) -> go.Figure:
    """Accuracy against confidence per bin, before and after temperature scaling; marker area shows the cases."""
    figure = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=CHANCE_LINE, name="Perfectly calibrated"))
    for curve, name, colour in ((before, "Before temperature scaling", "#EF553B"), (after, f"After (T = {temperature:.2f})", "#636EFA")):
        figure.add_trace(go.Scatter(
            x=curve.confidence.tolist(), y=curve.accuracy.tolist(), mode="lines+markers", line_color=colour,
            marker={"size": (6 + 2 * np.sqrt(curve.count)).tolist()}, customdata=curve.count.tolist(),
            hovertemplate="Mean confidence %{x:.2f}<br>Accuracy %{y:.2f}<br>%{customdata} cases", name=f"{name}: ECE {curve.ece:.3f}"))
    figure.update_layout(title="Reliability of the top-class confidence", xaxis_title="Confidence (mean in bin)",
                         yaxis_title="Accuracy in bin", xaxis_range=[0, 1.02], yaxis_range=[0, 1.05], height=460,
                         legend={"x": 0.02, "y": 0.98, "itemsizing": "constant"})
    return figure


def abstention_figure(curve: list[dict], operating_point: Abstention | None) -> go.Figure:
    """Accuracy on accepted cases and the share accepted, against the confidence threshold."""
    thresholds = [row["threshold"] for row in curve]
    figure = go.Figure([
        go.Scatter(x=thresholds, y=[row["accuracy"] for row in curve], name="Accuracy on accepted cases",
                   hovertemplate="threshold %{x:.2f}<br>accuracy on accepted %{y:.1%}<extra></extra>"),
        go.Scatter(x=thresholds, y=[row["coverage"] for row in curve], name="Share of cases accepted (coverage)",
                   hovertemplate="threshold %{x:.2f}<br>accepted %{y:.1%}<extra></extra>"),
    ])
    if operating_point:
        t = operating_point.threshold
        figure.add_vline(x=t, line=CHANCE_LINE, annotation_text=f"operating point {t:.2f}")
        figure.add_trace(go.Scatter(x=[t, t], y=[operating_point.accuracy, operating_point.coverage], mode="markers",
                                    marker={"size": 11, "color": "black", "symbol": "diamond"}, name="Model card's operating point"))
    figure.update_layout(title="Accuracy and coverage at each confidence threshold",
                         xaxis_title="Confidence threshold (below it the app answers “inconclusive”)",
                         yaxis_title="Share", yaxis_tickformat=".0%", height=460, **LEGEND_BELOW)
    return figure


def learning_curves_figure(folds: list[dict]) -> go.Figure:
    """Loss and accuracy per epoch for each fold: training solid, validation dashed."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Accuracy"))
    for i, fold in enumerate(folds):
        colour = FOLD_COLOURS[i % len(FOLD_COLOURS)]
        for col, metric in enumerate(("loss", "accuracy"), start=1):
            for prefix, dash, part in (("", "solid", "train"), ("val_", "dash", "validation")):
                values = fold.get(prefix + metric)
                if values:
                    figure.add_trace(go.Scatter(
                        x=list(range(1, len(values) + 1)), y=values, line={"color": colour, "dash": dash},
                        name=f"fold {fold['fold']} {part}", legendgroup=f"fold {fold['fold']}", showlegend=col == 1,
                    ), row=1, col=col)
    figure.update_xaxes(title_text="Epoch")
    figure.update_layout(height=420, margin={"t": 40})
    return figure


def distribution_figure(counts: dict[str, int]) -> go.Figure:
    names = [n for n in CLASS_NAMES if n in counts]
    figure = go.Figure(go.Bar(x=[DISPLAY_NAMES[CLASS_NAMES.index(n)] for n in names], y=[counts[n] for n in names],
                              marker_color=[CLASS_COLOURS[CLASS_NAMES.index(n)] for n in names], text=[counts[n] for n in names]))
    figure.update_layout(yaxis_title="Training images", height=320, margin={"t": 20})
    return figure
