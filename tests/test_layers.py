"""Architecture: each layer of the package imports only from the layers below it."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "equiv"

#: Layer number of each top-level module or subpackage of ``equiv``. Lower layers never import
#: higher ones; ``cli`` is a consumer on top, like ``app_pages/`` and ``app.py``. Training is a
#: library (TrainConfig → train → TrainResult): the run store and the jobs sit above it.
LAYERS = {
    "errors": 0, "paths": 0, "parsing": 0, "formatting": 0, "links": 0, "runtime": 0, "__init__": 0, "__main__": 9,
    "o3": 1,
    "playground": 2,
    "molecules": 2, "data": 2,
    "graphs": 3, "models": 3,
    "run_settings": 3,
    "training": 4,
    "runs": 5, "md": 5,
    "jobs": 6,
    "views": 7,
    "widgets": 8,
    "cli": 9, "serve": 9,
}


def _layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "equiv":
        return None
    if len(parts) == 1:
        return 0
    return LAYERS.get(parts[1])


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


FILES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    for path in FILES:
        top = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        assert top in LAYERS, f"{path}: add {top!r} to LAYERS in tests/test_layers.py"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_downwards(path):
    top = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    own = LAYERS[top]
    for name in _imports(path):
        layer = _layer_of(name)
        if layer is None or name.split(".")[1:2] == [top]:
            continue
        assert layer <= own, f"{path.name} (layer {own}) imports {name} (layer {layer})"
