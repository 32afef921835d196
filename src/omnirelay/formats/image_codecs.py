"""The registry of image translations, keyed by a vendor's wire format.

A vendor serves OpenAI images requests if its format is here: synchronous formats answer in one
request, task formats run one task per image. OpenAI's own format needs no translation.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from omnirelay.formats import flux, ideogram, kling
from omnirelay.formats.imagegen import SyncImageCodec, TaskImageCodec

SYNC_CODECS: Mapping[str, SyncImageCodec] = MappingProxyType({"ideogram": ideogram.IMAGE_CODEC})
TASK_CODECS: Mapping[str, TaskImageCodec] = MappingProxyType(
    {"bfl": flux.IMAGE_CODEC, "kling": kling.IMAGE_CODEC}
)
