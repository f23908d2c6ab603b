"""`python -m training.au_basis`: forwards to training.au.basis, where the code lives (the layout is in training/__init__.py)."""

from training.au.basis import main

if __name__ == "__main__":
    raise SystemExit(main())
