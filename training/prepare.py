"""`facegan-prepare`: forwards to training.data.prepare, where the code lives (the layout is in training/__init__.py)."""

from training.data.prepare import main

if __name__ == "__main__":
    raise SystemExit(main())
