"""`python -m training.lt_response`: forwards to training.evaluation.lt_response, where the code lives (the layout is in training/__init__.py)."""

from training.evaluation.lt_response import main

if __name__ == "__main__":
    raise SystemExit(main())
