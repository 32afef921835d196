"""The Help Center's error tables: what each error looks like on each surface, and what to do.

Rows come from the source (``error_scan.raised``); what a client sees comes from each
surface's own renderer applied to that error, so a changed mapping changes the page. The one
hand-written part is the meaning of each (class, code) — and a test fails when a code is raised
that has no meaning here, or a meaning outlives its code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from aiohttp import web

from omnirelay import errors
from omnirelay.api import anthropic as anthropic_api
from omnirelay.api import gemini as gemini_api
from omnirelay.api import ideogram as ideogram_api
from omnirelay.api import kling as kling_api
from omnirelay.api import midjourney as midjourney_api
from omnirelay.api import openai as openai_api
from omnirelay.api import suno as suno_api
from omnirelay.docsgen.error_scan import Raised, error_classes, raised

# Where an error is raised decides which surfaces can show it: the task surfaces' own
# modules raise their own codes; everything else (keys, billing, limits, relay, vendors) can
# reach a client of any surface.
_OWN_MODULES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "kling": ("api/kling.py", "formats/kling.py"),
        "midjourney": ("api/midjourney.py", "formats/midjourney/", "vendors/midjourney.py"),
        "suno": ("api/suno.py", "formats/suno.py"),
        "ideogram": ("api/ideogram.py", "formats/ideogram.py"),
        "openai": ("api/openai.py", "api/images.py", "api/responses.py", "formats/imagegen.py"),
        "account": ("api/account.py", "platform/balances.py"),
        "admin": (
            "api/admin/",
            "platform/keyring.py",
            "platform/users.py",
            "platform/channel_admin.py",
            "platform/model_admin.py",
            "platform/validation.py",
        ),
    }
)
# Vendor modules whose numeric codes (the vendor's own) only their own surface shows.
_VENDOR_CODES: Mapping[str, str] = MappingProxyType(
    {"vendors/midjourney.py": "midjourney", "vendors/kling.py": "kling"}
)


@dataclass(frozen=True, slots=True)
class Meaning:
    what: str
    todo: str


_GENERIC_BAD = Meaning(
    "the request is malformed or breaks a rule; the message names the field",
    "fix the field the message names; nothing was charged",
)
# (class, code) → what it means and what to do. None is the class's default code.
MEANINGS: Mapping[tuple[str, str | None], Meaning] = MappingProxyType(
    {
        ("InvalidRequest", None): _GENERIC_BAD,
        ("InvalidRequest", "1200"): Meaning("the body is empty or not JSON", "send a JSON object"),
        ("InvalidRequest", "1201"): Meaning(
            "a field breaks Kling's rules (`<field>: <why>`)", "fix that field; nothing was charged"
        ),
        ("InvalidRequest", "4"): Meaning(
            "the submission breaks a rule (empty prompt, bad image, unknown button)",
            "fix what the description says; nothing was charged",
        ),
        ("InvalidRequest", "invalid_request"): Meaning(
            "a field breaks Suno's rules (`<field>: <why>`)", "fix that field; nothing was charged"
        ),
        ("InvalidRequest", "invalid_action"): Meaning(
            "the path names no Suno action", "use `/suno/submit/music` or `/suno/submit/lyrics`"
        ),
        ("InvalidRequest", "invalid_size"): Meaning(
            "the image model cannot make that `size`", "pick one of the sizes the message lists"
        ),
        ("InvalidRequest", "model_not_supported"): Meaning(
            "the model exists but not on this endpoint (an image model on chat…)",
            "use the endpoint of the model's kind",
        ),
        ("InvalidRequest", "content_policy_violation"): Meaning(
            "the vendor refused the prompt or image as unsafe",
            "change the prompt; a refused task is refunded",
        ),
        ("InvalidRequest", "previous_response_not_found"): Meaning(
            "`previous_response_id` names no stored response of yours",
            "send the `id` of a response created with `store` on, by the same key",
        ),
        ("InvalidRequest", "invalid_code"): Meaning(
            "no such redemption code", "check the code for typos"
        ),
        ("InvalidRequest", "code_expired"): Meaning(
            "the redemption code has expired", "ask your operator for a new one"
        ),
        ("InvalidRequest", "code_disabled"): Meaning(
            "the redemption code was disabled", "ask your operator"
        ),
        ("BannedPrompt", "24"): Meaning(
            "Midjourney refused a banned word (`properties.bannedWord`)",
            "rephrase without that word; nothing was charged",
        ),
        ("AuthenticationFailed", None): Meaning(
            "the key is unknown", "check the key; ask your operator for one"
        ),
        ("AuthenticationFailed", "missing_api_key"): Meaning(
            "no key was sent", "send it as the surface expects (see Make a request)"
        ),
        ("AuthenticationFailed", "api_key_expired"): Meaning(
            "the key has expired", "ask your operator to extend it or for a new key"
        ),
        ("AuthenticationFailed", "api_key_disabled"): Meaning(
            "the key was disabled", "ask your operator"
        ),
        ("PermissionDenied", None): Meaning(
            "the key may not use this model", "use a model of your key's list (`GET /v1/models`)"
        ),
        ("PermissionDenied", "csrf_failed"): Meaning(
            "a change sent with the console's session cookie but not from the console's page",
            "use the console, or send the key in `Authorization` instead of the cookie",
        ),
        ("PermissionDenied", "model_not_in_group"): Meaning(
            "your group does not include this model", "use a model `GET /v1/models` lists"
        ),
        ("PermissionDenied", "ip_not_allowed"): Meaning(
            "the key is limited to other IP addresses", "call from an allowed address"
        ),
        ("PermissionDenied", "user_only"): Meaning(
            "a user's own route (`/api/me/…`) called with an admin key, which has no user",
            "call it with the user's key",
        ),
        ("PermissionDenied", "admin_only"): Meaning(
            "an admin route called with a user key", "use an admin key"
        ),
        ("PermissionDenied", "1103"): Meaning(
            "the Kling account refused the model or feature", "try another model; ask your operator"
        ),
        ("NotFound", None): Meaning("no such thing (route, task, file)", "check the path and id"),
        ("NotFound", "task_not_found"): Meaning(
            "no task of yours has that id", "check the id; another user's tasks are not shown"
        ),
        ("NotFound", "model_not_found"): Meaning(
            "no such model", "`GET /v1/models` lists the models you can use"
        ),
        ("ModelNotFound", None): Meaning(
            "no such model here", "`GET /v1/models` lists the models you can use"
        ),
        ("NotFound", "unknown_url"): Meaning("no such route", "check the method and path"),
        ("InvalidRequest", "method_not_allowed"): Meaning(
            "the path exists, not with this method (`Allow` lists its methods)",
            "use a method the `Allow` header lists",
        ),
        ("NotFound", "1202"): Meaning("no such Kling route", "check the method and path"),
        ("NotFound", "1203"): Meaning(
            "no such task for this key", "query tasks with the key that created them"
        ),
        ("NotFound", "3"): Meaning(
            "no such task (or not this key's)", "use an id your key submitted"
        ),
        ("NotFound", "not_found"): Meaning("no such Suno route", "check the method and path"),
        ("NotFound", "task_not_exist"): Meaning(
            "no such task for this key", "fetch tasks with the key that submitted them"
        ),
        ("Conflict", None): Meaning("the name is taken", "choose another name"),
        ("Conflict", "last_admin_key"): Meaning(
            "the last enabled admin key cannot be disabled or deleted", "create another first"
        ),
        ("Conflict", "code_already_redeemed"): Meaning(
            "the redemption code was used already", "each code is redeemed once"
        ),
        ("InvalidRequest", "header_too_large"): Meaning(
            "a header (or all of them together) is larger than the gateway accepts",
            "send shorter headers (a cookie jar or a huge custom header is the usual cause)",
        ),
        ("InvalidRequest", "json_too_deep"): Meaning(
            "the JSON body is nested deeper than the gateway accepts",
            "flatten the body; no API here needs deep nesting",
        ),
        ("InvalidRequest", "image_too_large"): Meaning(
            "an inlined (base64 or data: URL) image or file is larger than the gateway accepts",
            "send a smaller file, or a URL instead of base64",
        ),
        ("PayloadTooLarge", None): Meaning(
            "the body is larger than the gateway (or the vendor) accepts",
            "send smaller files, or URLs instead of base64",
        ),
        ("QuotaExceeded", None): Meaning(
            "the balance (or the key's cap, or a daily/monthly spending limit) does not cover "
            "the request",
            "top up or ask your operator; do not retry as is",
        ),
        ("RateLimited", None): Meaning(
            "too many requests or tokens a minute, or too many at once",
            "wait `Retry-After` seconds, then retry",
        ),
        ("RateLimited", "23"): Meaning("Midjourney's queue is full", "retry later"),
        ("RateLimited", "upstream_rate_limited"): Meaning(
            "the vendor is rate-limiting the gateway and no other channel could serve it",
            "wait `Retry-After` seconds if given, then retry; nothing was charged",
        ),
        ("UpstreamError", None): Meaning(
            "the vendor failed and no other channel could serve the request",
            "retry later; nothing was charged",
        ),
        ("UpstreamError", "upstream_error"): Meaning(
            "the vendor answered with an error of its own", "retry later"
        ),
        ("UpstreamError", "upstream_auth_failed"): Meaning(
            "the vendor refused the operator's credential", "tell your operator"
        ),
        ("UpstreamError", "upstream_account"): Meaning(
            "the vendor account has a problem (balance, suspension)", "tell your operator"
        ),
        ("UpstreamError", "upstream_malformed"): Meaning(
            "the vendor's answer was not valid (cut, or not its format); it is never relayed",
            "retry; nothing was charged",
        ),
        ("UpstreamError", "channel_misconfigured"): Meaning(
            "the channel's credential is not in the vendor's form", "tell your operator"
        ),
        ("UpstreamError", "3"): Meaning(
            "Midjourney lost the task", "submit again; the task was refunded"
        ),
        ("UpstreamError", "9"): Meaning(
            "Midjourney failed the submission", "retry later; nothing was charged"
        ),
        ("UpstreamTimeout", None): Meaning(
            "the vendor did not answer in time", "retry later; nothing was charged"
        ),
        ("Unavailable", "database_unavailable"): Meaning(
            "the gateway's database is unreachable for a moment",
            "retry after `Retry-After` seconds; nothing was charged",
        ),
        ("NoChannelAvailable", None): Meaning(
            "no channel serves this model right now", "retry later, or tell your operator"
        ),
    }
)


def _json(response: web.Response) -> dict[str, object]:
    assert isinstance(response.body, bytes)
    document = json.loads(response.body)
    assert isinstance(document, dict)
    return document


def _openai(error: errors.GatewayError) -> tuple[int, str]:
    body = _json(openai_api.error_response(error))["error"]
    assert isinstance(body, dict)
    code = "null" if body["code"] is None else body["code"]
    return error.status, f"`{body['type']}` / `{code}`"


def _anthropic(error: errors.GatewayError) -> tuple[int, str]:
    body = _json(anthropic_api.error_response(error))["error"]
    assert isinstance(body, dict)
    return error.status, f"`{body['type']}`"


def _gemini(error: errors.GatewayError) -> tuple[int, str]:
    body = _json(gemini_api.error_response(error))["error"]
    assert isinstance(body, dict)
    return error.status, f"`{body['status']}`"


def _kling(error: errors.GatewayError) -> tuple[int, str]:
    status, code = kling_api.kling_code(error)
    return status, f"`{code}`"


def _midjourney(error: errors.GatewayError) -> tuple[int, str]:
    response = midjourney_api._error_response(error, task_route=False)
    return response.status, f"`{_json(response)['code']}`"


def _suno(error: errors.GatewayError) -> tuple[int, str]:
    response = suno_api.error_response(error)
    return response.status, f"`{_json(response)['code']}`"


def _ideogram(error: errors.GatewayError) -> tuple[int, str]:
    response = ideogram_api.error_response(error)
    return response.status, "`error` (the message)"


# Surface → how it renders one of our errors: (HTTP status, what identifies it in the body).
RENDERERS: Mapping[str, Callable[[errors.GatewayError], tuple[int, str]]] = MappingProxyType(
    {
        "openai": _openai,
        "anthropic": _anthropic,
        "gemini": _gemini,
        "kling": _kling,
        "midjourney": _midjourney,
        "suno": _suno,
        "ideogram": _ideogram,
        "account": _openai,
        "admin": _openai,
    }
)


def surface_of(found: Raised) -> str | None:
    """The one surface an error belongs to, or None when any surface can show it."""
    if found.module in _VENDOR_CODES and found.code is not None and found.code.isdigit():
        return _VENDOR_CODES[found.module]
    for surface, prefixes in _OWN_MODULES.items():
        if found.module.startswith(prefixes):
            return surface
    return None


def pairs_for(surface: str) -> list[tuple[str, str | None]]:
    """(class, code) pairs a client of ``surface`` can meet, in the tree's order."""
    order = list(error_classes())
    chosen: set[tuple[str, str | None]] = set()
    for found in raised():
        owner = surface_of(found)
        if owner == surface or (owner is None and surface != "admin"):
            chosen.add((found.kind, found.code))
    return sorted(chosen, key=lambda p: (order.index(p[0]), p[1] or ""))


def _instance(kind: str, code: str | None) -> errors.GatewayError:
    cls = error_classes()[kind]
    if cls is errors.BannedPrompt:
        return errors.BannedPrompt("banned", banned_word="word", code=code)
    return cls("message", code=code)


def surface_table(surface: str) -> str:
    """One row per distinct (HTTP status, code) a client of ``surface`` can see."""
    render = RENDERERS[surface]
    grouped: dict[tuple[int, str], list[Meaning]] = {}
    for kind, code in pairs_for(surface):
        meanings = grouped.setdefault(render(_instance(kind, code)), [])
        if MEANINGS[(kind, code)] not in meanings:
            meanings.append(MEANINGS[(kind, code)])
    rows = ["| HTTP | Code | Meaning | What to do |", "|---|---|---|---|"]
    for (status, shown), meanings in grouped.items():
        what = "<br>".join(m.what for m in meanings)
        todo = "<br>".join(dict.fromkeys(m.todo for m in meanings))
        rows.append(f"| {status} | {shown} | {what} | {todo} |")
    return "\n".join(rows)


def tree_table() -> str:
    """The error tree: class, HTTP status, OpenAI ``type``, default ``code``, retry advice."""
    rows = ["| Error | HTTP | `type` | default `code` | Retry? |", "|---|---|---|---|---|"]
    for name, cls in error_classes().items():
        depth = len([c for c in cls.__mro__ if issubclass(c, errors.GatewayError)]) - 1
        retry = {True: "yes, later", False: "no", None: "—"}[cls.retryable]
        label = ("&nbsp;&nbsp;" * depth) + f"`{name}`"
        rows.append(
            f"| {label} | {cls.status} | `{cls.kind}` | "
            f"{f'`{cls.default_code}`' if cls.default_code else '—'} | {retry} |"
        )
    return "\n".join(rows)
