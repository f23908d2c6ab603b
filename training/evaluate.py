"""`facegan-evaluate` and `python -m training.evaluate`: forwards to training.evaluation.evaluate, where the code lives (the layout is in training/__init__.py)."""

from training.evaluation.evaluate import main

if __name__ == "__main__":
    raise SystemExit(main())
