"""The eye painter's training (realtime.render.eyes uses what it exports): samples cut from a prepared dataset
by the run-time renderer itself (data.py), a CPU training loop that resumes, its export to fp16 ONNX and the
model card (train.py); and the mouth prior (mouth_prior.py). Commands:

    python -m training.painter.data --data /work/prepared/dev --out /work/painter/eyes.npz
    python -m training.painter.train --samples /work/painter/eyes.npz --out runs/eyes --minutes 40 \
        --export realtime/weights
    python -m training.painter.mouth_prior --data /work/prepared/dev --out realtime/weights
"""

HELD_OUT = (0.1, 0)
"""(val_fraction, seed) of `training.data.dataset.split_identities`: the people the shipped networks were not
trained on, held out of the eye painter's training samples and of the mouth prior alike."""
