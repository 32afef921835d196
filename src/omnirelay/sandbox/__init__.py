"""The vendor simulator: imitates upstream vendors over real HTTP, deterministically.

It is what tests and ``--demo`` talk to through the real vendor adapters; it never shortcuts
them. Each imitated vendor has its own module.
"""
