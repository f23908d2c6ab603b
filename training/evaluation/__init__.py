"""The parts of `facegan-evaluate` (training/evaluate.py): data, pairs, methods, measure, report."""
