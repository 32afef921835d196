"""The generated parts of the pages cannot drift from the code they describe."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest

from omnirelay.docsgen import directives, error_tables
from omnirelay.docsgen.endpoints import ENDPOINTS
from omnirelay.docsgen.error_scan import raised
from omnirelay.docsgen.field_tables import documented_paths
from omnirelay.docsgen.settings_table import DESCRIPTIONS, settings_fields
from omnirelay.errors import GatewayError


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_every_field_of_every_endpoint_has_its_sentence(name: str) -> None:
    endpoint = ENDPOINTS[name]
    paths = {info.path for info in documented_paths(endpoint)}
    assert paths == set(endpoint.notes), {
        "without a sentence": paths - set(endpoint.notes),
        "no such field": set(endpoint.notes) - paths,
    }
    assert endpoint.required <= paths


def _without(body: dict[str, Any], path: str) -> dict[str, Any]:
    trimmed = copy.deepcopy(body)
    *parents, last = path.split(".")
    target = trimmed
    for part in parents:
        target = target[part]
    del target[last]
    return trimmed


CHECKED = sorted(name for name, e in ENDPOINTS.items() if e.check is not None)


@pytest.mark.parametrize("name", CHECKED)
def test_fields_marked_required_are_refused_when_missing(name: str) -> None:
    """The example passes the real validator; without any field the table calls required,
    the validator refuses it and names that field."""
    endpoint = ENDPOINTS[name]
    assert endpoint.check is not None and endpoint.example is not None
    endpoint.check(msgspec.json.encode(endpoint.example))
    for path in sorted(endpoint.required):
        with pytest.raises(GatewayError) as refused:
            endpoint.check(msgspec.json.encode(_without(dict(endpoint.example), path)))
        assert refused.value.status == 400
        assert path.split(".")[-1] in refused.value.message, (path, refused.value.message)


def test_every_setting_has_its_sentence() -> None:
    names = {f.name for f in settings_fields()}
    assert names == set(DESCRIPTIONS), {
        "without a sentence": names - set(DESCRIPTIONS),
        "no such setting": set(DESCRIPTIONS) - names,
    }


def test_every_error_raised_has_a_meaning_and_every_meaning_an_error() -> None:
    found = {(r.kind, r.code) for r in raised()}
    meanings = set(error_tables.MEANINGS)
    assert found <= meanings, found - meanings
    assert meanings <= found, meanings - found


@pytest.mark.parametrize("surface", sorted(error_tables.RENDERERS))
def test_each_surface_table_renders_through_the_surface(surface: str) -> None:
    table = directives.expand(f"<!-- omnirelay: errors {surface} -->")
    assert table.count("\n") > 3
    assert "| 401 |" in table or surface == "admin"


def test_an_unknown_directive_or_argument_fails_the_build() -> None:
    with pytest.raises(ValueError, match="unknown directive"):
        directives.expand("<!-- omnirelay: nonsense -->")
    with pytest.raises(ValueError, match="failed"):
        directives.expand("<!-- omnirelay: fields no.such.endpoint -->")
    with pytest.raises(ValueError, match="failed"):
        directives.expand("<!-- omnirelay: models kind=nothing -->")


def test_a_directive_keeps_its_indentation() -> None:
    out = directives.expand("??? note\n\n    <!-- omnirelay: error-tree -->\n")
    body = out.split("\n")[2:]
    assert body and all(line.startswith("    ") for line in body if line)
