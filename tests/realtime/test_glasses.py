"""The glasses check on real photos (none of them among its training labels): a source photo with glasses gets
the warning line, photos without do not. Skips when ../shared/data/dev is absent."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.face.align import alignment_transform, warp_to_crop
from realtime.face.glasses import load_glasses_model
from realtime.weights import weights_dir

DATA = Path(__file__).parents[1].parent.parent / "shared" / "data" / "dev"
EXAMPLES = DATA / "LivePortrait" / "assets" / "examples"
WITH = EXAMPLES / "driving" / "d8.jpg"  # a curly-haired man with thin metal glasses
WITHOUT = [EXAMPLES / "source" / "s12.jpg", DATA / "EDTalk" / "test_data" / "leijun.png"]
LABELS = Path(__file__).parents[2] / "training" / "data" / "glasses_labels.csv"

needs_data = pytest.mark.skipif(not WITH.is_file(), reason=f"real dev data not found at {DATA}")


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_the_checked_photos_are_not_among_the_training_labels() -> None:
    labelled = LABELS.read_text()
    for path in [WITH, *WITHOUT]:
        assert str(path.relative_to(DATA)) not in labelled


@needs_data
def test_a_photo_with_glasses_is_warned_and_photos_without_are_not(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    from realtime.face import AnalyzerOptions, FaceAnalyzer
    from realtime.stages.render import prepare_source

    model = load_glasses_model(weights_dir())
    assert model is not None
    with FaceAnalyzer(AnalyzerOptions(mode="image")) as analyzer:
        seen = {}
        for path in [WITH, *WITHOUT]:
            rgb = _rgb(path)
            face = analyzer.analyze(rgb)
            assert face is not None
            seen[path.name] = model.probability(warp_to_crop(rgb, alignment_transform(face.landmarks), 256))
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="realtime.stages.render"):
            prepare_source(_rgb(WITH), analyzer)
        assert any("wears glasses" in r.getMessage() for r in caplog.records)
        # The weights folder the pipeline is given (the evaluation's --weights) is read: one without the model checks nothing.
        assert not prepare_source(_rgb(WITH), analyzer, weights=tmp_path).glasses
        assert prepare_source(_rgb(WITH), analyzer, weights=weights_dir()).glasses
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="realtime.stages.render"):
            prepare_source(_rgb(WITHOUT[0]), analyzer)
        assert not any("glasses" in r.getMessage() for r in caplog.records)
    # With room on both sides of the threshold, not just across it.
    assert seen[WITH.name] > min(0.75, model.threshold + 0.3), seen
    assert max(seen[p.name] for p in WITHOUT) < model.threshold / 4, seen


def test_the_probability_reads_a_mirrored_face_the_same() -> None:
    model = load_glasses_model(weights_dir())
    assert model is not None
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)
    assert model.probability(crop) == pytest.approx(model.probability(crop[:, ::-1].copy()), abs=1e-9)
