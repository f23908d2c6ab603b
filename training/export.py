"""`facegan-export`: forwards to training.release.export, where the code lives (the layout is in training/__init__.py)."""

from training.release.export import main

if __name__ == "__main__":
    raise SystemExit(main())
