"""Dependencies point one way: command lines -> stages (data_util, NeRFs, evaluation, add_audio) -> adnerf.

Read from the source with ``ast`` (every ``import`` and ``from ... import``, also inside functions, relative
ones resolved), so a new import against the direction fails here before it turns into a cycle or a stage
that cannot be used without another. docs/architecture.md explains the layers.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = "adnerf"
STAGES = ("data_util", "NeRFs", "evaluation", "add_audio", "portrait")
PROJECT = (SHARED, *STAGES)
# the command lines that compose stages (driving computes features of a .wav with preprocessing's audio
# step and muxes the sound): they may import any stage
COMMAND_LINES = {"NeRFs/HeadNeRF/run_nerf.py", "NeRFs/TorsoNeRF/run_nerf.py"}
# what evaluation may import of the NeRFs: one public module, if it ever needs a NeRF result (none today)
NERFS_PUBLIC = {"NeRFs.api"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            # `from pkg import mod` imports pkg.mod when mod is a module: count the longer name
            found += [(node.lineno, f"{module}.{alias.name}" if _is_module(f"{module}.{alias.name}") else module)
                      for alias in node.names]
    return found


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def project_files(top: str) -> list[Path]:
    return sorted(p for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts)


def violations(top: str, allowed) -> list[str]:
    """'file:line imports module' for every import of a project module that ``allowed(file, module)`` refuses."""
    bad = []
    for path in project_files(top):
        rel = path.relative_to(ROOT).as_posix()
        for line, module in imports_of(path):
            first = module.split(".")[0]
            if first in PROJECT and first != top and not allowed(rel, module):
                bad.append(f"{rel}:{line} imports {module}")
    return bad


def test_the_reader_sees_every_kind_of_import():
    """Guards the test itself: relative imports resolve, `from pkg import module` names the module."""
    found = dict((m, n) for n, m in imports_of(ROOT / "data_util" / "face_tracking" / "pipeline.py"))
    assert "data_util.common" in found and "adnerf.devices" in found
    assert "data_util.face_tracking.focal_search" in found
    assert any(m == "adnerf.files" for _, m in imports_of(ROOT / "data_util" / "process_data.py"))


def test_the_shared_layer_imports_nothing_of_the_project():
    assert violations(SHARED, lambda rel, module: False) == []


def test_preprocessing_imports_only_the_shared_layer():
    assert violations("data_util", lambda rel, module: module.startswith(SHARED)) == []


def test_the_nerfs_import_other_stages_only_in_their_command_lines():
    assert violations("NeRFs", lambda rel, module: module.startswith(SHARED) or rel in COMMAND_LINES) == []


def test_evaluation_imports_of_the_nerfs_only_their_public_module():
    assert violations("evaluation", lambda rel, module: module.startswith(SHARED) or module in NERFS_PUBLIC) == []


def test_muxing_imports_only_the_shared_layer():
    assert violations("add_audio", lambda rel, module: module.startswith(SHARED)) == []


def test_portrait_imports_only_the_shared_layer():
    assert violations("portrait", lambda rel, module: module.startswith(SHARED)) == []


@pytest.mark.parametrize("top", PROJECT)
def test_every_file_parses(top):
    assert project_files(top), f"no Python files under {top}/"


# the avatar command lines (avatar/: adnerf-export, adnerf-drive, adnerf-serve) compose stages too, but reach
# the NeRFs only through their driving command line (or NeRFs.api), and preprocessing only for audio
AVATAR_ALLOWED = ("adnerf", "NeRFs.TorsoNeRF.run_nerf", "NeRFs.api", "data_util.audio_features")


def test_the_avatar_layer_uses_the_nerfs_only_through_their_command_line_and_nothing_imports_it():
    assert violations("avatar", lambda rel, module: module == SHARED or module.startswith(AVATAR_ALLOWED)) == []
    below = [f"{p.relative_to(ROOT)}:{line} imports {m}" for top in PROJECT for p in project_files(top)
             for line, m in imports_of(p) if m.split(".")[0] == "avatar"]
    assert below == []


def import_graph(top: str) -> dict[str, set[str]]:
    """module -> the modules of the same top-level package it imports (also inside functions)."""
    graph = {}
    for path in project_files(top):
        name = module_name(path)
        graph[name] = {m for _, m in imports_of(path) if m.split(".")[0] == top and m != name and _is_module(m)}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The cycles of a graph, one per strongly connected component of more than one module (Tarjan),
    each as a path a -> b -> ... -> a through that component."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_in(graph, comp) for comp in components]


def _cycle_in(graph, comp: set[str]) -> list[str]:
    """A path start -> ... -> start inside a strongly connected component (breadth-first, shortest)."""
    start = min(comp)
    paths, seen = [[start]], {start}
    while paths:
        path = paths.pop(0)
        for w in sorted(graph[path[-1]] & comp):
            if w == start:
                return path + [start]
            if w not in seen:
                seen.add(w)
                paths.append(path + [w])
    return sorted(comp)


def test_the_cycle_finder_names_a_cycle():
    """Guards the test itself: a -> b -> c -> a is found, a tree is not."""
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert import_cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


@pytest.mark.parametrize("top", PROJECT)
def test_no_import_cycles_inside_a_package(top):
    """Modules of one package import each other one way (a circle means neither can be understood, tested
    or replaced alone: NeRFs/core's trainers, serving and render_only once imported each other)."""
    cycles = import_cycles(import_graph(top))
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_nerf_core_reaches_a_backend_only_through_its_table():
    """NeRFs/grid is a plug-in: it imports the core, and the core names it in one place, the backend table
    (NeRFs/core/backends.py), so that neither depends on the other's trainers or serving."""
    core_to_grid = [f"{p.relative_to(ROOT).as_posix()}:{line} imports {m}" for p in project_files("NeRFs")
                    if p.parent.name == "core" for line, m in imports_of(p) if m.startswith("NeRFs.grid")]
    assert all(v.startswith("NeRFs/core/backends.py:") for v in core_to_grid), core_to_grid
    grid_up = [f"{p.relative_to(ROOT).as_posix()}:{line} imports {m}" for p in project_files("NeRFs")
               if p.parent.name == "grid" for line, m in imports_of(p)
               if m.startswith("NeRFs.") and not m.startswith(("NeRFs.grid", "NeRFs.core"))
               or m in ("NeRFs.core.backends", "NeRFs.core.head", "NeRFs.core.torso", "NeRFs.core.serving",
                        "NeRFs.core.trainer", "NeRFs.core.cli")]
    assert grid_up == []
