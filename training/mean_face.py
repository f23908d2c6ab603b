"""`python -m training.mean_face`: forwards to training.data.mean_face, where the code lives (the layout is in training/__init__.py)."""

from training.data.mean_face import main

if __name__ == "__main__":
    raise SystemExit(main())
