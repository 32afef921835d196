"""Pure translation between wire formats: bytes and structures in, bytes and structures out."""
