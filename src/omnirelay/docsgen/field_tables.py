"""An endpoint's request fields as a markdown table (struct + validator rules + relayed fields)."""

from __future__ import annotations

from omnirelay.docsgen.endpoints import ENDPOINTS, Endpoint
from omnirelay.docsgen.fields import FieldInfo, walk


def documented_paths(endpoint: Endpoint) -> list[FieldInfo]:
    return list(walk(endpoint.struct))


def _type_cell(info: FieldInfo) -> str:
    if info.choices:
        return f"{info.type}: " + ", ".join(f"`{c}`" for c in info.choices)
    return info.type


def _rule_cell(info: FieldInfo, note: str) -> str:
    if info.default is not None and "default" not in note:
        note = f"{note}; default `{info.default}`"
    return note


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def field_table(name: str) -> str:
    """The table for ``ENDPOINTS[name]``: every field the gateway reads, then relayed ones."""
    endpoint = ENDPOINTS[name]
    rows = ["| Field | Type | Required | Rules and limits |", "|---|---|---|---|"]
    for info in documented_paths(endpoint):
        required = info.required or info.path in endpoint.required
        note = _rule_cell(info, endpoint.notes[info.path])
        rows.append(
            f"| `{info.path}` | {_escape(_type_cell(info))} | {'yes' if required else 'no'} "
            f"| {_escape(note)} |"
        )
    for path, (kind, note) in endpoint.passthrough.items():
        rows.append(f"| `{path}` | {kind} | no | {_escape(note)} (relayed as sent) |")
    return "\n".join(rows)
