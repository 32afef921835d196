from __future__ import annotations

import httpx

from tests.support.servers import GatewayProcess


def test_healthz(gateway: GatewayProcess) -> None:
    assert httpx.get(gateway.url + "/healthz").status_code == 200
