"""schemathesis against /admin/openapi.json (the admin API and the account endpoints), with
the real admin key, on a gateway of its own (the fuzzer changes what it finds)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.fuzzing import fuzz
from tests.support.servers import ADMIN_KEY, GatewayProcess


def known_secrets(gateway: GatewayProcess) -> list[str]:
    """What no answer may ever contain: the admin key, channel credentials, the Fernet key."""
    fernet = (gateway.data_dir / "secret.key").read_text().strip()
    return [
        ADMIN_KEY,
        "sk-sandbox-demo",
        "ak-sandbox-kling",
        "sk-sandbox-kling-secret-0123456789abcdef",
        fernet,
    ]


@pytest.mark.timeout(1800)
def test_the_admin_api_holds_under_fuzzing(target: GatewayProcess) -> None:
    document = httpx.get(target.url + "/admin/openapi.json", timeout=30).json()
    admin = next(k for k in target.admin("GET", "/admin/keys").json()["data"] if k["is_admin"])

    def adjust(case: Any, data: Any) -> bool:
        # Channels point at the sandbox only: a channel test must never leave this machine.
        if isinstance(case.body, dict) and "base_url" in case.body:
            case.body["base_url"] = target.sandbox_url
        # The fuzzer may do anything to keys but the one it works with.
        path_key = (case.path_parameters or {}).get("key_id")
        return not (case.method.upper() in ("PATCH", "DELETE") and path_key == admin["id"])

    findings = fuzz(
        document,
        base_url=target.url,
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        secrets=known_secrets(target),
        adjust=adjust,
    )
    findings.report("admin")
    assert sum(findings.sent.values()) > 0
    assert len(findings.sent) >= 40, sorted(findings.sent)  # (nearly) every operation ran
    assert findings.problems == [], "\n".join(findings.problems[:20])
