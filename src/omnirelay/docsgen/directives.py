"""``<!-- omnirelay: NAME ARGUMENT -->`` in a page → generated markdown.

An unknown directive, or one whose argument matches nothing, raises: the strict build fails
rather than publish a page with a hole in it.
"""

from __future__ import annotations

import argparse
import functools
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType

from omnirelay import cli
from omnirelay.docsgen.catalogue_tables import models_table, task_prices_table
from omnirelay.docsgen.error_tables import surface_table, tree_table
from omnirelay.docsgen.field_tables import field_table
from omnirelay.docsgen.settings_table import settings_table

# A directive on a line of its own; its indentation (inside a tab or an admonition) is kept.
_DIRECTIVE = re.compile(r"^([ \t]*)<!--\s*omnirelay:\s*([a-z-]+)\s*(.*?)\s*-->", re.MULTILINE)


def cli_help(argument: str) -> str:
    """``omnirelay ARGUMENT --help`` as the parser prints it, in a code block."""
    parser = cli.build_parser()
    for word in argument.split():
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = actions[0].choices[word]
    # A fixed width: the page must not depend on the terminal that built it.
    parser.formatter_class = functools.partial(argparse.HelpFormatter, width=96)
    text = parser.format_help().replace("usage: ", "", 1)
    return f"```text\n{text.rstrip()}\n```"


def admin_routes() -> str:
    """Every admin route, from the same declarations the OpenAPI document is built from."""
    from omnirelay.api.admin import ROUTES

    rows = ["| Method | Path | What it does |", "|---|---|---|"]
    for route in ROUTES:
        path = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", route.path)
        rows.append(f"| {route.method} | `{path}` | {route.summary} |")
    return "\n".join(rows)


def _no_argument(render: Callable[[], str]) -> Callable[[str], str]:
    def directive(argument: str) -> str:
        if argument:
            raise ValueError(f"this directive takes no argument (got {argument!r})")
        return render()

    return directive


DIRECTIVES: Mapping[str, Callable[[str], str]] = MappingProxyType(
    {
        "fields": field_table,
        "errors": surface_table,
        "error-tree": _no_argument(tree_table),
        "settings": _no_argument(settings_table),
        "models": models_table,
        "task-prices": task_prices_table,
        "cli": cli_help,
        "admin-routes": _no_argument(admin_routes),
    }
)


def expand(markdown: str, where: str = "page") -> str:
    """Replace every directive of ``markdown`` with what it generates."""

    def replace(match: re.Match[str]) -> str:
        indent, name, argument = match.group(1), match.group(2), match.group(3)
        directive = DIRECTIVES.get(name)
        if directive is None:
            raise ValueError(f"{where}: unknown directive '{name}'")
        try:
            text = directive(argument)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{where}: directive '{name} {argument}' failed: {exc}") from exc
        return "\n".join(indent + line if line else line for line in text.splitlines())

    return _DIRECTIVE.sub(replace, markdown)
