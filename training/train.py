"""`facegan-train`: forwards to training.fitting.train, where the code lives (the layout is in training/__init__.py)."""

from training.fitting.train import main

if __name__ == "__main__":
    raise SystemExit(main())
