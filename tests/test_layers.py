"""The import order of DEVELOPERS.md, enforced: a module of r1lab may import only from its own
layer or the layers before it, so data flows one way and nothing imports back up.

Every top-level entry of r1lab/ must be placed in `LAYERS` (a new folder is one line); an
unplaced one fails, and so does every import that runs back up, with the file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "r1lab"
LAYERS = {  # top-level name in r1lab/ -> layer; the data flows from low to high
    "__init__": 0, "errors": 0, "files": 0, "config": 0,
    "tasks": 1,
    "models": 2,
    "verifiers": 3,
    "rollout": 4,
    "algos": 5,
    "eval": 6,
    "runs": 7,
    "report": 8,  # renders run directories; never trains
    "train": 9,
    "pipeline": 10,
    "serve": 11,
    "cli": 12, "__main__": 12,
}


def _top(path: Path) -> str:
    """The top-level entry of r1lab/ that `path` (a file under it) belongs to: a folder or a module."""
    return path.relative_to(PKG).parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, top-level r1lab entry) for every r1lab import in the file, also those inside functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
        if isinstance(node, ast.ImportFrom) and node.module == "r1lab":  # from r1lab import config
            names = [f"r1lab.{a.name}" for a in node.names]
        found += [(node.lineno, n.split(".")[1]) for n in names if n.startswith("r1lab.")]
    return found


def test_every_top_level_entry_has_a_layer():
    entries = {p.name.removesuffix(".py") for p in PKG.iterdir()
               if p.name != "__pycache__" and (p.suffix == ".py" or p.is_dir())}
    unplaced = sorted(entries - set(LAYERS))
    assert not unplaced, f"place {unplaced} in LAYERS of tests/test_layers.py (and in DEVELOPERS.md's order)"


def test_no_import_runs_back_up():
    wrong = []
    for path in sorted(PKG.rglob("*.py")):
        own = LAYERS.get(_top(path))
        for line, target in _imports(path):
            if own is not None and LAYERS.get(target, own + 1) > own:
                wrong.append(f"r1lab/{path.relative_to(PKG)}:{line} imports r1lab.{target} "
                             f"(layer {LAYERS.get(target)} > its own {own})")
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_imports_inside_functions(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("from r1lab import config\nimport r1lab.tasks.base\ndef f():\n    from r1lab.train.run import run\n")
    assert sorted(_imports(f)) == [(1, "config"), (2, "tasks"), (4, "train")]
