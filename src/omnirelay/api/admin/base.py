"""What every admin route shares: a declaration (``Route``), and the one wrapper that
authenticates the admin key (or, on a route of a user's own data, the user's key), decodes the
query and the body into the route's typed structs (anything invalid is a 400 that says where),
runs the handler, publishes the invalidation the change calls for, writes the audit entry of
every mutating call, and renders errors in the OpenAI envelope. The OpenAPI document is
generated from the same declarations.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import msgspec
from aiohttp import web

from omnirelay.api.common import bearer_token, decode_json, gateway_of, read_body
from omnirelay.api.openai import openai_errors
from omnirelay.errors import GatewayError, InvalidRequest, NotFound, PermissionDenied
from omnirelay.gateway import Gateway
from omnirelay.keys import KeyRecord
from omnirelay.platform import audit

T = TypeVar("T")
Answer = msgspec.Struct | web.StreamResponse | None
# The largest id or count a database column holds (a signed 64-bit integer).
MAX_INT = 2**63 - 1


@dataclass(slots=True)
class AdminCall:
    """One admin request, authenticated and decoded."""

    request: web.Request
    gateway: Gateway
    admin: KeyRecord
    _body: object = None
    _query: object = None

    def body(self, kind: type[T]) -> T:
        assert isinstance(self._body, kind), "the route declares another body type"
        return self._body

    def query(self, kind: type[T]) -> T:
        assert isinstance(self._query, kind), "the route declares another query type"
        return self._query

    def path_int(self, name: str) -> int:
        value = int(self.request.match_info[name])  # the route's pattern admits digits only
        if value > MAX_INT:
            raise NotFound(f"no such {name.removesuffix('_id')}: {value}"[:200])
        return value

    def path(self, name: str) -> str:
        return self.request.match_info[name]

    @property
    def key(self) -> KeyRecord:
        """The caller's key (an admin key, or the user's key on a user route)."""
        return self.admin

    @property
    def user_id(self) -> int:
        assert self.admin.user_id is not None, "only user routes ask for the user"
        return self.admin.user_id

    @property
    def db(self) -> Any:
        return self.gateway.db

    @property
    def actor(self) -> str:
        return f"admin key {self.admin.id} ({self.admin.name})"


Handler = Callable[[AdminCall], Awaitable[Answer]]


@dataclass(frozen=True, slots=True)
class Route:
    """One admin endpoint: what it takes and answers, for the wrapper and the OpenAPI document."""

    method: str
    path: str  # an aiohttp pattern: /admin/keys/{key_id:\\d+}
    handler: Handler
    summary: str
    tag: str
    body: type[msgspec.Struct] | None = None
    query: type[msgspec.Struct] | None = None
    response: type[msgspec.Struct] | None = None  # None: no JSON body (CSV, or nothing)
    status: int = 200
    invalidates: str | None = None  # the bus topic a success publishes
    csv: bool = False
    audience: Literal["admin", "user"] = "admin"  # user: a user's key, for its own data


async def authenticate_admin(request: web.Request) -> tuple[Gateway, KeyRecord]:
    gateway = gateway_of(request)
    key = await gateway.keys.authenticate(bearer_token(request))
    if not key.is_admin:
        raise PermissionDenied("this endpoint needs an admin key", code="admin_only")
    return gateway, key


async def authenticate_user(request: web.Request) -> tuple[Gateway, KeyRecord]:
    gateway = gateway_of(request)
    key = await gateway.keys.authenticate(bearer_token(request))
    if key.user_id is None:
        raise PermissionDenied(
            "this endpoint answers for a user's own key; an admin key has no account",
            code="user_only",
        )
    return gateway, key


def _oversized(value: object, where: str = "$") -> str | None:
    """The path of an integer no column can hold, anywhere in a decoded body."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return where if abs(value) > MAX_INT else None
    if isinstance(value, msgspec.Struct):
        value = {f: getattr(value, f) for f in value.__struct_fields__}
    if isinstance(value, dict):
        items: list[tuple[str, object]] = [(f"{where}.{k}", v) for k, v in value.items()]
    elif isinstance(value, list | tuple):
        items = [(f"{where}[{i}]", v) for i, v in enumerate(value)]
    else:
        return None
    for path, item in items:
        found = _oversized(item, path)
        if found is not None:
            return found
    return None


def _problems(decoded: object) -> None:
    too_big = _oversized(decoded)
    if too_big is not None:
        param = too_big.removeprefix("$.")
        raise InvalidRequest(f"{param}: the number is out of range", param=param)
    check = getattr(decoded, "problems", None)
    found = check() if callable(check) else []
    if found:
        raise InvalidRequest("; ".join(found))


def decode_query(request: web.Request, kind: type[T]) -> T:
    """Query parameters into ``kind``: a wrong type or an unknown name is a 400."""
    try:
        decoded = msgspec.convert(dict(request.query), kind, strict=False)
    except msgspec.ValidationError as exc:
        message = str(exc)
        param = message.rsplit("`$.", 1)[-1].rstrip("`") if "`$." in message else None
        raise InvalidRequest(f"invalid query parameter: {message}", param=param) from exc
    _problems(decoded)
    return decoded


def encode(value: object, status: int = 200) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(value), status=status, content_type="application/json"
    )


def endpoint(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    mutating = route.method != "GET"
    authenticate = authenticate_user if route.audience == "user" else authenticate_admin

    @openai_errors
    async def handle(request: web.Request) -> web.StreamResponse:
        gateway, admin = await authenticate(request)
        raw = await read_body(request) if route.body is not None else b""
        status = 500
        try:
            call = AdminCall(request, gateway, admin)
            if route.query is not None:
                call._query = decode_query(request, route.query)
            elif request.query:
                names = ", ".join(sorted(request.query))
                raise InvalidRequest(f"this endpoint takes no query parameters (got {names})")
            if route.body is not None:
                call._body = decode_json(raw or b"{}", route.body)
                _problems(call._body)
            answer = await route.handler(call)
            if route.invalidates is not None:
                await gateway.changed(route.invalidates)
            response = answer if isinstance(answer, web.StreamResponse) else _json(answer, route)
            status = response.status
            return response
        except GatewayError as error:
            status = error.status
            raise
        finally:
            if mutating:
                await audit.record(
                    gateway.db,
                    actor_key_id=admin.id,
                    actor=admin.name,
                    method=request.method,
                    path=request.path_qs,
                    status=status,
                    body=raw,
                    ip=request.remote,
                )

    return handle


def _json(answer: object, route: Route) -> web.Response:
    if answer is None:
        return web.Response(status=204)
    return encode(answer, route.status)
