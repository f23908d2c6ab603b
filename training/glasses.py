"""`python -m training.glasses`: forwards to training.data.glasses, where the code lives (the layout is in training/__init__.py)."""

from training.data.glasses import main

if __name__ == "__main__":
    raise SystemExit(main())
