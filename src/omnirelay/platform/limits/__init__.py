"""Rate limits per key and per user: ``base`` (the contract), ``memory``, ``redis``."""
