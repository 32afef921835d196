"""``GET /admin/openapi.json``: the OpenAPI 3.1 document of the admin API, generated from the
route declarations and the very structs the handlers decode and answer (msgspec's JSON
Schema), so it cannot drift from the code."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from omnirelay import __version__
from omnirelay.api.admin.base import Route

_PARAM = re.compile(r"\{(\w+)(?::([^{}]*(?:\{[^{}]*\}[^{}]*)*))?\}")


class ErrorDetail(msgspec.Struct):
    message: str
    type: str
    code: str | None
    param: str | None


class ErrorBody(msgspec.Struct):
    """Every error of the admin API, in the OpenAI envelope."""

    error: ErrorDetail


@dataclass(frozen=True, slots=True)
class Documented:
    """An endpoint outside the admin routes that the document describes too."""

    method: str
    path: str
    summary: str
    tag: str
    body: type[msgspec.Struct] | None = None
    response: type[msgspec.Struct] | None = None
    query: type[msgspec.Struct] | None = None
    status: int = 200


def _path(pattern: str) -> tuple[str, list[dict[str, Any]]]:
    parameters = []
    for name, regex in _PARAM.findall(pattern):
        kind = "integer" if regex == "\\d+" else "string"
        schema: dict[str, Any] = {"type": kind}
        if regex and "|" in regex:
            schema["enum"] = regex.split("|")
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", pattern), parameters


def _ref(kind: type[msgspec.Struct]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{kind.__name__}"}


def _operation(
    route: Route | Documented, components: dict[str, Any], secured: bool
) -> tuple[str, dict[str, Any]]:
    path, parameters = _path(route.path)
    if route.query is not None:
        schema = components[route.query.__name__]
        required = set(schema.get("required", []))
        for name, field in schema.get("properties", {}).items():
            parameters.append(
                {"name": name, "in": "query", "required": name in required, "schema": field}
            )
    operation: dict[str, Any] = {
        "summary": route.summary,
        "tags": [route.tag],
        "operationId": f"{route.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', path.lower())}".rstrip(
            "_"
        ),
        "parameters": parameters,
    }
    if secured:
        operation["security"] = [{"bearer": []}]
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(route.body)}},
        }
    answer: dict[str, Any] = {"description": "success"}
    if route.response is not None:
        answer["content"] = {"application/json": {"schema": _ref(route.response)}}
    elif isinstance(route, Route) and route.csv:
        answer["content"] = {"text/csv": {"schema": {"type": "string"}}}
    error = {
        "description": "an error",
        "content": {"application/json": {"schema": _ref(ErrorBody)}},
    }
    operation["responses"] = {str(route.status): answer, "4XX": error, "5XX": error}
    return path, operation


def document(routes: Sequence[Route], others: Sequence[Documented]) -> dict[str, Any]:
    kinds: list[Any] = [ErrorBody]
    every: list[Route | Documented] = [*routes, *others]
    for route in every:
        kinds += [k for k in (route.body, route.query, route.response) if k is not None]
    _, components = msgspec.json.schema_components(
        list(dict.fromkeys(kinds)), ref_template="#/components/schemas/{name}"
    )
    paths: dict[str, dict[str, Any]] = {}
    for route in every:
        path, operation = _operation(route, components, secured=True)
        paths.setdefault(path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "omnirelay admin API",
            "version": __version__,
            "description": "Users, groups, keys, balances, codes, channels, models and prices, "
            "usage and audit. Money is in micro-dollars (1,000,000 = $1) unless a field says "
            "usd. Errors use the OpenAI envelope.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
