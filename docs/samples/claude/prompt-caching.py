import os

from anthropic import Anthropic

client = Anthropic(base_url=os.environ["OMNIRELAY_BASE_URL"], api_key=os.environ["OMNIRELAY_KEY"])

# A long, stable prefix marked for caching: the second call reads it from Claude's cache
manual = "You answer questions about this manual.\n" + "The lamp turns every ten seconds. " * 400
for attempt in (1, 2):
    reply = client.messages.create(
        model="claude-sonnet-4-5-20250929",
        max_tokens=200,
        system=[{"type": "text", "text": manual, "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "How often does the lamp turn?"}],
    )
    usage = reply.usage
    print(
        f"call {attempt}: input {usage.input_tokens}, cache write "
        f"{usage.cache_creation_input_tokens}, cache read {usage.cache_read_input_tokens}"
    )
