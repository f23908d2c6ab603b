"""Moved to realtime.controls (state, not compute); this name stays for training/ (au_basis, au_figure)."""

from realtime.controls import CHANNELS, Controls, Edit, Edits

__all__ = ["CHANNELS", "Controls", "Edit", "Edits"]
