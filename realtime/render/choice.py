"""Which renderer runs (DESIGN.md section 3): the user's --renderer, else what renderer.json beside the
weights recommends (written from measurements by facegan-evaluate), else the trained chain when its weights
ship, else the training-free mesh warp. The renderer it returns is not yet entered: the pipeline enters it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from realtime.config import Motion, Renderer
from realtime.errors import SetupError
from realtime.render.renderers import ChainCrop, CropRenderer, FrameRenderer, MeshFlowFrame, MeshWarpCrop

log = logging.getLogger(__name__)


def make_crop_renderer(
    weights_dir: Path,
    model: str,
    backend: str,
    renderer: Renderer = "auto",
    motion: Motion = "relative",
    keep_expression: bool = False,
) -> CropRenderer | FrameRenderer:
    """facegan: the trained chain (its weights must ship); meshflow: the full-resolution mesh flow with the
    driver's mouth; meshwarp: the training-free crop warp; auto: what the shipped weights recommend
    (renderer.json, decided by facegan-evaluate --decide), else the chain when its weights ship, else the mesh
    warp. Every choice is said in the log. `keep_expression`: the mesh flow's relative motion starts from the
    photo as it is, not from its face at rest."""
    choice = renderer if renderer != "auto" else recommended_renderer(weights_dir)
    if choice == "meshflow":
        log.info("rendering with the mesh flow, %s motion (--renderer %s)", motion, renderer)
        return MeshFlowFrame(weights_dir, backend, motion, keep_expression=keep_expression)
    if choice == "meshwarp":
        log.info("rendering with the training-free mesh warp (--renderer %s)", renderer)
        return MeshWarpCrop()
    if (weights_dir / f"gr_{model}.onnx").is_file():
        try:
            return ChainCrop(weights_dir, model, backend)
        except Exception as e:
            if renderer == "facegan":
                raise SetupError(f"the trained {model} networks could not start: {e}") from e
            log.warning("trained %s chain could not start (%s): using the mesh-warp fallback", model, e)
    elif renderer == "facegan":
        raise SetupError(f"--renderer facegan needs gr_{model}.onnx in {weights_dir}, which is not there")
    else:
        log.info(
            "no trained weights (gr_%s.onnx) in %s: rendering with the training-free mesh-warp fallback",
            model,
            weights_dir,
        )
    return MeshWarpCrop()


def recommended_renderer(weights_dir: Path) -> str:
    """renderer.json beside the weights names the renderer that measured best with them; without it, the
    trained chain is preferred. A malformed file is reported, and ignored."""
    path = weights_dir / "renderer.json"
    if not path.is_file():
        return "facegan"
    try:
        choice = json.loads(path.read_text())["default"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("%s is unreadable (%s): preferring the trained networks", path, e)
        return "facegan"
    if choice not in ("facegan", "meshwarp", "meshflow"):
        log.warning("%s names an unknown renderer %r: preferring the trained networks", path, choice)
        return "facegan"
    log.info("renderer %s, as %s recommends for these weights", choice, path.name)
    return str(choice)
