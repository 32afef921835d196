import os

from anthropic import Anthropic

client = Anthropic(base_url=os.environ["OMNIRELAY_BASE_URL"], api_key=os.environ["OMNIRELAY_KEY"])

tools = [
    {
        "name": "get_weather",
        "description": "The current weather in a city",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]
messages = [{"role": "user", "content": "What is the weather in Paris?"}]
first = client.messages.create(
    model="claude-3-5-haiku-20241022", max_tokens=512, tools=tools, messages=messages
)
call = next(block for block in first.content if block.type == "tool_use")
print("tool:", call.name, call.input)

messages += [
    {"role": "assistant", "content": first.content},
    {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18°C, sunny"}],
    },
]
final = client.messages.create(
    model="claude-3-5-haiku-20241022", max_tokens=512, tools=tools, messages=messages
)
print("answer:", final.content[0].text)
