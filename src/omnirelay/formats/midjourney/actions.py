"""What a Midjourney task does: our action names, the proxy's words for them, and buttons.

A finished task carries Discord's buttons (``MJ::JOB::upsample::2::<message hash>``…). The
hash is the upstream's; clients see it replaced by our task id, and an action a client sends
is mapped back by finding the parent's button it names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

IMAGINE = "mj.imagine"
UPSCALE = "mj.upscale"
VARIATION = "mj.variation"
REROLL = "mj.reroll"
DESCRIBE = "mj.describe"
BLEND = "mj.blend"
SHORTEN = "mj.shorten"
ZOOM = "mj.zoom"
PAN = "mj.pan"
UPSCALE_HD = "mj.upscale_hd"

# Our action → the proxy's TaskAction.
WORDS = MappingProxyType(
    {
        IMAGINE: "IMAGINE",
        UPSCALE: "UPSCALE",
        VARIATION: "VARIATION",
        REROLL: "REROLL",
        DESCRIBE: "DESCRIBE",
        BLEND: "BLEND",
        SHORTEN: "SHORTEN",
        ZOOM: "ZOOM",
        PAN: "PAN",
        UPSCALE_HD: "UPSCALE_HD",
    }
)
ACTIONS = frozenset(WORDS)
# Parents that /submit/change may act on (the proxy's rule).
CHANGEABLE = frozenset({IMAGINE, VARIATION, REROLL, BLEND})

# A button's customId prefix → the action it starts, and whether it opens a modal (the task
# then waits for /submit/modal with its prompt, or mask).
_BUTTONS: tuple[tuple[str, str, bool], ...] = (
    ("MJ::JOB::upsample::", UPSCALE, False),
    ("MJ::JOB::upsample_", UPSCALE_HD, False),
    ("MJ::JOB::variation::", VARIATION, False),
    ("MJ::JOB::low_variation::", VARIATION, False),
    ("MJ::JOB::high_variation::", VARIATION, False),
    ("MJ::JOB::reroll::", REROLL, False),
    ("MJ::Outpaint::", ZOOM, False),
    ("MJ::CustomZoom::", ZOOM, True),
    ("MJ::JOB::pan_", PAN, False),
    ("MJ::Inpaint::", VARIATION, True),
    ("MJ::Job::PicReader::", IMAGINE, False),
    ("MJ::Picread::Retry", DESCRIBE, False),
)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_INDEXED = re.compile(r"^MJ::JOB::(upsample|variation)::(\d)::")


def product(action: str) -> str:
    """The ``[[task_prices]]`` product of an action (``mj.upscale`` → ``upscale``)."""
    return action.removeprefix("mj.")


def classify(custom_id: str) -> tuple[str, bool] | None:
    """(action, opens a modal) for a button, or None for one we do not know."""
    for prefix, action, modal in _BUTTONS:
        if custom_id.startswith(prefix):
            return action, modal
    return None


def short_label(custom_id: str) -> str:
    """``U2``/``V3``/``R`` for the grid's buttons, as /submit/change would name them."""
    found = _INDEXED.match(custom_id)
    if found:
        return ("U" if found.group(1) == "upsample" else "V") + found.group(2)
    return "R" if custom_id.startswith("MJ::JOB::reroll::") else ""


def client_custom_id(upstream_id: str, task_id: str, message_hash: str | None) -> str:
    """The customId a client sees: the upstream's message hash replaced by our task id."""
    mapped = upstream_id.replace(message_hash, task_id) if message_hash else upstream_id
    return _UUID.sub(task_id, mapped)


def client_buttons(
    buttons: Iterable[Mapping[str, Any]], task_id: str, message_hash: str | None
) -> list[dict[str, Any]]:
    return [
        {
            "customId": client_custom_id(str(b.get("customId", "")), task_id, message_hash),
            "emoji": b.get("emoji", ""),
            "label": b.get("label", ""),
            "type": b.get("type", 2),
            "style": b.get("style", 2),
        }
        for b in buttons
    ]


def upstream_custom_id(
    buttons: Iterable[Mapping[str, Any]], client_id: str, task_id: str, message_hash: str | None
) -> str | None:
    """The upstream customId of the parent's button that ``client_id`` names, if any."""
    for button in buttons:
        upstream = str(button.get("customId", ""))
        if client_custom_id(upstream, task_id, message_hash) == client_id:
            return upstream
    return None
