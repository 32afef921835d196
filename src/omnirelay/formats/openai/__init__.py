"""The OpenAI wire family: the fields the gateway reads (wire), chat completions (chat), and
their event streams (stream), each to and from the neutral pivot."""
