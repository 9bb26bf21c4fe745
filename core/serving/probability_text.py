"""The one rule for showing a probability: one decimal of a percent, never 100 % nor 0 %.

The model's own mistakes reach 99.7 %, so a rounded "100.0 %" would claim a certainty it does not have: figures
above 99.9 % read "> 99.9 %" and below 0.1 % read "< 0.1 %". The banner, tables, chart, CSV and PDF all use it.
"""
HIGHEST, LOWEST = 0.999, 0.001


def probability_text(p: float) -> str:
    """E.g. "97.0 %", "> 99.9 %", "< 0.1 %"."""
    p = float(p)
    if p > HIGHEST:
        return f"> {HIGHEST:.1%}".replace("%", " %")
    if p < LOWEST:
        return f"< {LOWEST:.1%}".replace("%", " %")
    return f"{p:.1%}".replace("%", " %")
