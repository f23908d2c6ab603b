"""The import boundaries of STYLE.md: run_cam -> realtime -> engines; realtime never imports training;
engines knows neither realtime nor training. Checked by walking every module's imports (no execution)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "realtime": ("training",),
    "engines": ("realtime", "training", "calibrate"),
    "calibrate": ("training",),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_flow_one_way(package: str) -> None:
    bad = []
    for path in sorted((REPO / package).rglob("*.py")):
        hit = _imports(path) & set(FORBIDDEN[package])
        if hit:
            bad.append(f"{path.relative_to(REPO)} imports {sorted(hit)}")
    assert not bad, "import boundary broken:\n" + "\n".join(bad)


def test_run_cam_is_thin() -> None:
    path = REPO / "run_cam.py"
    if not path.exists():
        pytest.skip("run_cam.py not written yet")
    assert "training" not in _imports(path)
    assert len(path.read_text().splitlines()) <= 80
