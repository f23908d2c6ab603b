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


def _code_files() -> list[Path]:
    return [
        p
        for pkg in ("engines", "realtime", "training", "calibrate")
        for p in sorted((REPO / pkg).rglob("*.py"))
    ]


def _assignments(path: Path) -> list[tuple[str, ast.expr]]:
    """(name, value) of every module- or class-level `NAME = value` / `NAME: T = value` in the file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Assign):
            out += [(t.id, node.value) for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            out.append((node.target.id, node.value))
    return out


def _literal_strings(value: ast.expr) -> set[str]:
    """The strings of a `Literal[...]` subscript (empty for anything else)."""
    if not (isinstance(value, ast.Subscript) and getattr(value.value, "id", None) == "Literal"):
        return set()
    return {
        n.value for n in ast.walk(value.slice) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def test_names_and_constants_are_defined_once() -> None:
    """NUM_LANDMARKS lives in realtime/face/topology.py, the backend Literal in engines/registry.py, the shipped
    variant Literal in engines/spec.py; everyone else imports them."""
    where: dict[str, list[str]] = {"NUM_LANDMARKS": [], "backend Literal": [], "variant Literal": []}
    for path in _code_files():
        rel = str(path.relative_to(REPO))
        for name, value in _assignments(path):
            words = _literal_strings(value)
            if name == "NUM_LANDMARKS":
                where["NUM_LANDMARKS"].append(rel)
            if "onnxruntime" in words:
                where["backend Literal"].append(f"{rel}:{name}")
            if {"lite", "full"} <= words:
                where["variant Literal"].append(f"{rel}:{name}")
    assert where["NUM_LANDMARKS"] == ["realtime/face/topology.py"], where
    assert where["backend Literal"] == ["engines/registry.py:Backend"], where
    assert where["variant Literal"] == ["engines/spec.py:Variant"], where


def test_engines_know_no_face() -> None:
    """engines/ never imports realtime.face (the FORBIDDEN rule) nor writes the mesh's 478 points itself: the
    landmark count comes from the specs."""
    bad = []
    for path in sorted((REPO / "engines").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and node.value == 478 and type(node.value) is int:
                bad.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not bad, "engines/ writes the mesh size 478: read it from the spec instead:\n" + "\n".join(bad)


def test_no_private_helpers_imported_across_files() -> None:
    """A `_name` is private to its file: training/ and engines/ never import one from another module."""
    bad = []
    for package in ("training", "engines"):
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and node.level == 0:
                    private = [a.name for a in node.names if a.name.startswith("_")]
                    if private:
                        bad.append(f"{path.relative_to(REPO)} imports {private} from {node.module}")
    assert not bad, "private helpers imported across files:\n" + "\n".join(bad)


def test_training_stage_names_become_behaviour_in_one_place() -> None:
    """`cfg.stage == ...` / `cfg.stage in (...)` branches live only in training/fitting/stages.py (make_stage)."""
    bad = []
    for path in sorted((REPO / "training").rglob("*.py")):
        if path.name == "stages.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Compare)
                and isinstance(node.left, ast.Attribute)
                and node.left.attr == "stage"
            ):
                bad.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not bad, "stage-string branches outside training/stages.py:\n" + "\n".join(bad)


def _realtime_imports(path: Path) -> set[str]:
    """The realtime.* modules a file imports, deferred imports included."""
    return {m for m in _module_imports(path) if m.startswith("realtime.")}


def test_sinks_never_import_stages() -> None:
    """Sinks do I/O: they share frames (realtime.frames), controls (realtime.controls), stats
    (realtime.stats) and errors (realtime.errors) with the stages, never the stages themselves."""
    bad = [
        f"{path.relative_to(REPO)} imports {sorted(hit)}"
        for path in sorted((REPO / "realtime" / "sinks").rglob("*.py"))
        if (hit := {m for m in _realtime_imports(path) if m.startswith("realtime.stages")})
    ]
    assert not bad, "sinks importing stages:\n" + "\n".join(bad)


def test_run_time_reads_calibration_only_through_config() -> None:
    """The calibration profile reaches run time through its config (PipelineConfig.calibration_profile):
    realtime/config.py is the one module of realtime/ that imports calibrate/."""
    bad = [
        str(path.relative_to(REPO))
        for path in sorted((REPO / "realtime").rglob("*.py"))
        if path != REPO / "realtime" / "config.py"
        and any(m.split(".")[0] == "calibrate" for m in _module_imports(path))
    ]
    assert not bad, "realtime/ modules importing calibrate/ (go through realtime.config):\n" + "\n".join(bad)


def test_stages_are_pure_compute() -> None:
    """stages/ build no engines and choose no renderer: engines/ and the renderer choice
    (realtime.render.choice: renderer.json, engine building) are reached from the pipeline only."""
    bad = [
        f"{path.relative_to(REPO)} imports {sorted(hit)}"
        for path in sorted((REPO / "realtime" / "stages").rglob("*.py"))
        if (
            hit := {
                m
                for m in _module_imports(path)
                if m.split(".")[0] == "engines" or m.startswith("realtime.render.choice")
            }
        )
    ]
    assert not bad, "stages importing engines or the renderer choice:\n" + "\n".join(bad)

    assert not bad, "stage-string branches outside training/fitting/stages.py:\n" + "\n".join(bad)


# training/ is grouped by what it does (the layout is written in training/__init__.py); a subpackage may use
# the ones listed here and no other, so the graph stays a DAG: data and models know nothing of fitting,
# evaluation, export or the AU work.
TRAINING_ALLOWED = {
    "models": set(),
    "data": set(),
    "fitting": {"data", "models"},
    "release": {"data", "models", "fitting"},
    "evaluation": {"data", "models", "fitting"},
    "au": {"data", "models", "evaluation", "release"},
    "painter": {"data", "models", "release"},
}


def _training_subpackages_used(path: Path) -> set[str]:
    used = set()
    for name in _module_imports(path):
        parts = name.split(".")
        if parts[0] == "training" and len(parts) > 1:
            used.add(parts[1])
    for node in ast.walk(ast.parse(path.read_text(), str(path))):  # `from training import data`
        if isinstance(node, ast.ImportFrom) and node.module == "training" and node.level == 0:
            used.update(a.name for a in node.names)
    return used


def test_training_subpackages_import_only_what_they_may() -> None:
    subpackages = {p.name for p in (REPO / "training").iterdir() if (p / "__init__.py").exists()}
    assert subpackages == set(TRAINING_ALLOWED), f"training/ subpackages changed: {sorted(subpackages)}"
    bad = []
    for sub, allowed in sorted(TRAINING_ALLOWED.items()):
        for path in sorted((REPO / "training" / sub).rglob("*.py")):
            hit = _training_subpackages_used(path) - allowed - {sub}
            if hit:
                bad.append(f"{path.relative_to(REPO)} imports training.{sorted(hit)}")
    assert not bad, "training subpackage imports outside TRAINING_ALLOWED:\n" + "\n".join(bad)


def test_training_has_no_flat_module_but_command_shims() -> None:
    """Every training/X.py left at the top is a shim that keeps `python -m training.X` and the console scripts
    working: a docstring, `from training.<sub>.<mod> import main`, and the __main__ guard, nothing else."""
    bad = []
    for path in sorted((REPO / "training").glob("*.py")):
        if path.name == "__init__.py":
            continue
        body = ast.parse(path.read_text(), str(path)).body
        ok = (
            len(body) == 3
            and isinstance(body[0], ast.Expr)
            and isinstance(body[1], ast.ImportFrom)
            and (body[1].module or "").count(".") == 2
            and (body[1].module or "").split(".")[1] in TRAINING_ALLOWED
            and [a.name for a in body[1].names] == ["main"]
            and isinstance(body[2], ast.If)
        )
        if not ok:
            bad.append(str(path.relative_to(REPO)))
    assert not bad, (
        "flat training modules that are not command shims (move them into a subpackage):\n" + "\n".join(bad)
    )


def test_training_commands_start_from_their_documented_module() -> None:
    """facegan-* entry points keep their `training.X:main` targets: each is a shim whose target defines main."""
    import tomllib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    bad = []
    for name, target in sorted(scripts.items()):
        module, _, func = target.partition(":")
        if not module.startswith("training."):
            continue
        shim = REPO / (module.replace(".", "/") + ".py")
        if module.count(".") != 1 or not shim.exists():
            bad.append(f"{name} -> {target}: entry points name a top-level shim training/X.py")
            continue
        forward = next(n for n in ast.parse(shim.read_text()).body if isinstance(n, ast.ImportFrom))
        real = REPO / ((forward.module or "").replace(".", "/") + ".py")
        defined = {n.name for n in ast.parse(real.read_text()).body if isinstance(n, ast.FunctionDef)}
        if func not in defined:
            bad.append(f"{name} -> {target}: {real.relative_to(REPO)} defines no {func}()")
    assert not bad, "\n".join(bad)
