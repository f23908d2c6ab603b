"""`facegan-distill-au`: forwards to training.au.distill, where the code lives (the layout is in training/__init__.py)."""

from training.au.distill import main

if __name__ == "__main__":
    raise SystemExit(main())
