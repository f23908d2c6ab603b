"""`facegan-au-figure`: forwards to training.evaluation.au_figure, where the code lives (the layout is in training/__init__.py)."""

from training.evaluation.au_figure import main

if __name__ == "__main__":
    raise SystemExit(main())
