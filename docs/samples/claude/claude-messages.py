import os

from anthropic import Anthropic

# The root URL, without /v1: the SDK adds it
client = Anthropic(base_url=os.environ["OMNIRELAY_BASE_URL"], api_key=os.environ["OMNIRELAY_KEY"])

message = client.messages.create(
    model="claude-sonnet-4-5-20250929",
    max_tokens=1024,
    messages=[{"role": "user", "content": "Hello, Claude"}],
)
print(message.content[0].text)
print(message.stop_reason, message.usage.input_tokens, message.usage.output_tokens)

# Streaming
with client.messages.stream(
    model="claude-3-5-haiku-20241022",
    max_tokens=256,
    messages=[{"role": "user", "content": "Count to three"}],
) as stream:
    for text in stream.text_stream:
        print(text, end="", flush=True)
print()

# Any chat model answers in this format, GPT and Gemini included
other = client.messages.create(
    model="gpt-4o-mini", max_tokens=100, messages=[{"role": "user", "content": "Hi"}]
)
print(other.model, other.content[0].text)
