"""Fitting the networks: facegan-train (train.py), one class per training stage (stages.py), the losses of eqs.
1-11 (losses.py), presets and checkpoints (config.py), the run log."""
