"""The layout is the architecture: imports run one way, and no two modules import each other.

Every ``import`` of every module under ``ssl_video/`` is read from its source (those inside
functions and ``TYPE_CHECKING`` blocks included), so a lazy import cannot hide a back-arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ssl_video

ROOT = Path(ssl_video.__file__).parent

# Lower layers never import higher ones: base -> models -> hub -> data -> pretrain -> evaluate -> engine -> commands.
LAYERS = [
    ("ssl_video", "ssl_video._io", "ssl_video.spec", "ssl_video.errors", "ssl_video.paths", "ssl_video.optim"),
    ("ssl_video.models",),
    ("ssl_video.hub",),
    ("ssl_video.data", "ssl_video.testing"),
    ("ssl_video.pretrain",),
    ("ssl_video.evaluate",),
    ("ssl_video.engine",),
    ("ssl_video.commands",),
    ("ssl_video.cli",),
]
# Imports the layer order would allow but the design does not: models are pure torch, data knows no model.
FORBIDDEN = {
    "ssl_video.models": ("pytorch_lightning", "lightning", "ssl_video.data", "ssl_video.hub"),
    "ssl_video.data": ("ssl_video.models", "ssl_video.hub"),
    "ssl_video.hub": ("pytorch_lightning", "lightning"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(name: str) -> str:
    """The module an import refers to: ``a.b.c`` where it is a module, else its longest existing prefix."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _imports(module: str) -> list[tuple[str, int]]:
    """-> [(imported name, line)] for every import statement in ``module``, at any depth."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                full = f"{base}.{alias.name}"
                found.append((full if full in MODULES else base, node.lineno))
    return found


def _layer(module: str) -> int:
    best, layer = -1, None
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, layer = len(prefix), i
    assert layer is not None, f"{module} is in no layer: add it to LAYERS"
    return layer


def _graph() -> dict[str, set[str]]:
    return {m: {_resolve(n) for n, _ in _imports(m) if n.startswith("ssl_video")} - {m} for m in MODULES}


def test_imports_follow_the_layers():
    wrong = []
    for module in MODULES:
        for name, line in _imports(module):
            where = f"{MODULES[module].relative_to(ROOT.parent)}:{line}"
            if name.startswith("ssl_video") and _layer(_resolve(name)) > _layer(module):
                wrong.append(f"{where} imports {name} (a higher layer)")
            for prefix, banned in FORBIDDEN.items():
                if module == prefix or module.startswith(prefix + "."):
                    wrong += [f"{where} imports {name}" for b in banned if name == b or name.startswith(b + ".")]
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_no_import_cycles():
    graph, cycles = _graph(), []
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done

    def visit(module: str, stack: list[str]) -> None:
        state[module] = 1
        for other in sorted(graph[module]):
            # a package's __init__ importing its own submodules is how packages work, not a cycle
            if other.startswith(module + ".") and MODULES[module].name == "__init__.py":
                continue
            if state.get(other) == 1:
                cycles.append(" -> ".join([*stack[stack.index(other):], other]))
            elif other not in state:
                visit(other, [*stack, other])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_checker_sees_lazy_imports(tmp_path):
    tree = ast.parse("def f():\n    from ssl_video.hub import load_encoder\n")
    names = [n for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for n in [node.module]]
    assert names == ["ssl_video.hub"]
    assert _layer("ssl_video.hub.api") > _layer("ssl_video.models.registry")
