"""The parts of `facegan-evaluate` (training/evaluation/evaluate.py): data, pairs, methods, measure, report."""
