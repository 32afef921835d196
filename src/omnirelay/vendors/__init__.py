"""Upstream vendor adapters, found by name through one registry."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from omnirelay.vendors.anthropic import AnthropicVendor
from omnirelay.vendors.base import (
    BatchPollingVendor,
    ChannelForm,
    InteractiveTaskVendor,
    Operation,
    RelayVendor,
    SecretPart,
    TaskVendor,
    UpstreamCall,
    Vendor,
)
from omnirelay.vendors.flux import FluxVendor
from omnirelay.vendors.gemini import GeminiVendor
from omnirelay.vendors.ideogram import IdeogramVendor
from omnirelay.vendors.kling import KlingVendor
from omnirelay.vendors.midjourney import MidjourneyVendor
from omnirelay.vendors.openai import OpenAIChatVendor, OpenAIVendor
from omnirelay.vendors.suno import SunoVendor


def default_vendors() -> Mapping[str, Vendor]:
    """The registry: vendor name → adapter. Adding a vendor means adding a line here."""
    adapters: list[Vendor] = [
        OpenAIVendor(),
        OpenAIChatVendor(),
        AnthropicVendor(),
        GeminiVendor(),
        KlingVendor(),
        MidjourneyVendor(),
        SunoVendor(),
        IdeogramVendor(),
        FluxVendor(),
    ]
    return MappingProxyType({vendor.name: vendor for vendor in adapters})


__all__ = [
    "BatchPollingVendor",
    "ChannelForm",
    "InteractiveTaskVendor",
    "Operation",
    "RelayVendor",
    "SecretPart",
    "TaskVendor",
    "UpstreamCall",
    "Vendor",
    "default_vendors",
]
