"""Evaluation: metrics, performance figures, per-source figures, intervals and shortcut checks."""
