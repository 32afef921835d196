"""Which errors the gateway can raise, read from its own source: ``(class, code, module)``.

Every ``SomeError(..., code="…")`` call in ``src/omnirelay`` (the sandbox excepted: it is the
vendors' simulator) is found by walking the syntax tree, a code given as a module constant
included. Codes built at run time (a vendor's own code passed through) are not listed; the
pages say so.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from omnirelay import errors

PACKAGE = Path(errors.__file__).parent
_SKIPPED = ("sandbox/", "docsgen/")


def error_classes() -> dict[str, type[errors.GatewayError]]:
    """Every class of the tree, by name, parents before children."""
    found: dict[str, type[errors.GatewayError]] = {}

    def visit(kind: type[errors.GatewayError]) -> None:
        found[kind.__name__] = kind
        for child in kind.__subclasses__():
            if child.__module__ == errors.__name__:
                visit(child)

    visit(errors.GatewayError)
    return found


@dataclass(frozen=True, slots=True, order=True)
class Raised:
    kind: str  # the class name
    code: str | None  # None: the class's default code
    module: str  # path relative to the package, e.g. "api/kling.py"


def _constants(tree: ast.Module) -> dict[str, str]:
    """Module-level ``NAME = "text"`` (or a number), as the text a code would carry."""
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            value = node.value.value
            if isinstance(value, str | int) and not isinstance(value, bool):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        names[target.id] = str(value)
    return names


def _called(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _values(node: ast.expr, constants: dict[str, str]) -> list[str] | None:
    """The codes an expression can be: a constant, a known name, ``str(NAME)``, or either
    branch of ``a if … else b``; None when it is computed at run time."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Name) and node.id in constants:
        return [constants[node.id]]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "str"
        and len(node.args) == 1
    ):
        return _values(node.args[0], constants)
    if isinstance(node, ast.IfExp):
        body, orelse = _values(node.body, constants), _values(node.orelse, constants)
        return body + orelse if body is not None and orelse is not None else None
    return None


def _codes(node: ast.Call, constants: dict[str, str]) -> list[str | None]:
    """The codes a call raises: its ``code=`` values, or [None] for the class default."""
    for keyword in node.keywords:
        if keyword.arg == "code":
            return list(_values(keyword.value, constants) or [])
    return [None]


def raised(package: Path = PACKAGE) -> tuple[Raised, ...]:
    """Every (class, code, module) raised under ``package``; read once per build."""
    return _scan(package)


@functools.cache
def _scan(package: Path) -> tuple[Raised, ...]:
    return tuple(_walk(package))


def _walk(package: Path) -> Iterator[Raised]:
    classes = error_classes()
    trees: dict[str, ast.Module] = {}
    for path in sorted(package.rglob("*.py")):
        module = path.relative_to(package).as_posix()
        if not module.startswith(_SKIPPED) and module != "errors.py":
            trees[module] = ast.parse(path.read_text(encoding="utf-8"))
    # Codes are often constants of another module (``tasks.model.CONTENT_POLICY``).
    shared: dict[str, str] = {}
    for tree in trees.values():
        shared.update(_constants(tree))
    for module, tree in trees.items():
        constants = {**shared, **_constants(tree)}
        for node in ast.walk(tree):
            name = _called(node) if isinstance(node, ast.Call) else None
            if name not in classes or name == "GatewayError":
                continue
            assert isinstance(node, ast.Call)
            for code in _codes(node, constants):
                yield Raised(name, code, module)
