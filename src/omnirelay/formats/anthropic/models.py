"""What a Claude model accepts, read from its name: which ways of thinking, effort, and
structured outputs (``output_config.format``). The API refuses a feature a model lacks, so a
translated request asks only for what the model has.

Names are ``claude-<family>-<major>[-<minor>][-<date>]`` (``claude-sonnet-4-5-20250929``) or,
before Claude 4, ``claude-<major>-<minor>-<family>-<date>``; a prefix such as Bedrock's
``anthropic.`` or a router's ``anthropic/`` is ignored. A name that reads as no Claude model
(an operator's alias) is taken to be a current one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NEW = re.compile(r"claude-(opus|sonnet|haiku|[a-z]+)-(\d)(?:-(\d{1,2}))?(?!\d)")
_OLD = re.compile(r"claude-(\d)(?:-(\d))?-(opus|sonnet|haiku)")
_LEGACY = re.compile(r"claude-(instant|2)")


@dataclass(frozen=True, slots=True)
class Features:
    thinking: bool  # thinking {type: enabled, budget_tokens}
    adaptive: bool  # thinking {type: adaptive} with output_config.effort
    effort: bool  # output_config.effort
    structured: bool  # output_config.format (JSON Schema)


CURRENT = Features(thinking=True, adaptive=True, effort=True, structured=True)


def version(model: str) -> tuple[str, int, int] | None:
    """(family, major, minor) of a Claude model name, or None if it names none."""
    name = model.rsplit("/", 1)[-1].lower()
    found = _NEW.search(name)
    if found:
        return found.group(1), int(found.group(2)), int(found.group(3) or 0)
    old = _OLD.search(name)
    if old:
        return old.group(3), int(old.group(1)), int(old.group(2) or 0)
    return None


def features(model: str) -> Features:
    if _LEGACY.search(model.lower()):
        return Features(False, False, False, False)
    found = version(model)
    if found is None:
        return CURRENT
    family, major, minor = found
    at = (major, minor)
    return Features(
        thinking=at >= (3, 7),
        adaptive=at >= (4, 6),
        effort=at >= (4, 6) or (family == "opus" and at >= (4, 5)),
        structured=at >= (4, 5) or (family == "opus" and at >= (4, 1)),
    )
