import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ["OMNIRELAY_BASE_URL"] + "/v1",
    api_key=os.environ["OMNIRELAY_KEY"],
)

tools = [
    {
        "type": "function",
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
first = client.responses.create(
    model="claude-3-5-sonnet-20241022",  # or gpt-4o-mini, gemini-2.0-flash…
    instructions="Answer briefly.",
    input="What is the weather in Paris?",
    tools=tools,
)
call = next(item for item in first.output if item.type == "function_call")
print("call:", call.name, call.arguments)

second = client.responses.create(
    model="gemini-2.0-flash",  # the conversation continues on another vendor
    previous_response_id=first.id,
    input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
    tools=tools,
)
print("answer:", second.output_text)

with client.responses.stream(model="gpt-4o-mini", input="Tell me a story") as stream:
    for event in stream:
        if event.type == "response.output_text.delta":
            print(event.delta, end="", flush=True)
print()
print("stored:", client.responses.retrieve(second.id).status)
