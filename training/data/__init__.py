"""Data preparation and datasets: facegan-prepare (prepare.py and its parts in preparation/), the prepared-dataset
reader (dataset.py), video decoding, MediaPipe masks (segment), the Face Landmarker teacher, the mean face and the
mesh's mirror map (its table is data: mesh_mirror.json)."""
