"""The parts of `facegan-prepare` (training/prepare.py): inputs, tracks, process, dataset_file."""
