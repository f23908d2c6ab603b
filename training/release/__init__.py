"""What ships: facegan-export (export.py) writes model.onnx, its spec and model card after a torch-vs-ONNX parity
check."""
