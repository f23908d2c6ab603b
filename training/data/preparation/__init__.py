"""The parts of `facegan-prepare` (training/data/prepare.py): inputs, tracks, process, dataset_file."""
