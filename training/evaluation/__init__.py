"""Evaluation: facegan-evaluate (evaluate.py) and its parts (data, pairs, methods, measure, fold, progress, report,
report_html), the metrics (metrics.py), the live protocol (live.py, live_run.py), facegan-au-figure
(au_figure.py) and the LT response check (lt_response.py)."""
