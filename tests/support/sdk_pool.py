"""The official SDKs' clients for a test, pointed at a live gateway and closed afterwards (an
unclosed client's socket is a ResourceWarning, and warnings are errors)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from tests.support.servers import GatewayProcess


class SDKs:
    def __init__(self, gateway: GatewayProcess) -> None:
        self._gateway = gateway
        self._made: list[Any] = []

    def openai(self, key: str) -> openai.OpenAI:
        client = openai.OpenAI(base_url=self._gateway.v1, api_key=key, max_retries=0)
        self._made.append(client)
        return client

    def anthropic(self, key: str) -> anthropic.Anthropic:
        client = anthropic.Anthropic(base_url=self._gateway.url, api_key=key, max_retries=0)
        self._made.append(client)
        return client

    def genai(self, key: str) -> genai.Client:
        client = genai.Client(
            api_key=key, http_options=types.HttpOptions(base_url=self._gateway.url)
        )
        self._made.append(client)
        return client

    def close(self) -> None:
        for client in self._made:
            client.close()


@pytest.fixture(name="sdks")
def sdk_pool(gateway: GatewayProcess) -> Iterator[SDKs]:
    """The ``sdks`` fixture; import it into a test module to use it."""
    made = SDKs(gateway)
    yield made
    made.close()
