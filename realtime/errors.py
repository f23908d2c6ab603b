"""The errors of the live system that a user can act on (imported by sources, stages, sinks and the pipeline)."""

from __future__ import annotations


class SetupError(RuntimeError):
    """The configuration cannot be realised: a source photo with no face, an unreadable file, a sink that
    cannot open. run_cam.py prints its message as one line and exits with status 2."""
