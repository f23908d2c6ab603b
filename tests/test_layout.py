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


def _module_imports(path: Path) -> set[str]:
    """Full dotted names imported anywhere in the file, deferred (function-level) imports included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_engines_have_no_import_cycle() -> None:
    """engines.chain uses the fused torch chain; the fused chain (engines.torch_chain) and the torch backend
    never import engines.chain back, not even deferred inside a function."""
    graph = {
        f"engines.{p.stem}": {m for m in _module_imports(p) if m.startswith("engines.")}
        for p in sorted((REPO / "engines").glob("*.py"))
        if p.stem != "__init__"
    }

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted(m for m in graph if reaches(m, m, {m}))
    assert not cycles, f"modules of engines/ that import themselves back: {cycles}"


def test_the_chain_is_composed_once() -> None:
    """The foreground step of the paper (face * (P(hair) + P(face)), then Gb) is written in engines.compose
    only; every other caller goes through reenact / foreground."""
    bad = []
    for package in ("engines", "training", "realtime"):
        for path in sorted((REPO / package).rglob("*.py")):
            text = path.read_text()
            if path != REPO / "engines" / "compose.py" and "[:, 1:2] + " in text and "[:, 2:3]" in text:
                bad.append(str(path.relative_to(REPO)))
    assert not bad, "the chain's foreground step written again outside engines/compose.py:\n" + "\n".join(bad)
