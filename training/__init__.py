"""Training-time code of FACEGAN, grouped by what it does. Imports between the groups flow one way
(tests/test_layout.py: TRAINING_ALLOWED); run time never imports training.

    training/
      data/        data preparation and datasets: facegan-prepare (prepare.py, preparation/), the prepared-dataset
                   reader (dataset.py), video_io, segment (MediaPipe masks), teacher (Face Landmarker), mean_face,
                   mesh_mirror (the mirror table is data: mesh_mirror.json)
      models/      the networks, one file each with its config dataclass: LT/La, Gr, Gb, discriminator, AU head
      fitting/     facegan-train: train (the loop), stages (one class per training stage), losses (eqs. 1-11),
                   config (presets, checkpoints), run_log
      release/     facegan-export: ONNX export with its torch-vs-ONNX parity check, spec and model card
      evaluation/  facegan-evaluate (evaluate.py and its parts), metrics, the live protocol (live.py),
                   facegan-au-figure (au_figure.py), lt_response
      au/          AU work: facegan-distill-au (distill, distill_data, distill_export) and the AU basis (basis)

The flat modules left here (prepare, train, export, evaluate, au_figure, distill_au, au_basis, lt_response,
mean_face) are shims: they keep the console scripts of pyproject.toml and the documented `python -m training.X`
commands working and forward to the module that holds the code.
"""
