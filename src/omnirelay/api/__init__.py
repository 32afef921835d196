"""Client-facing HTTP surfaces, one module per API family."""
