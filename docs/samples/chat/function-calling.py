import json
import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ["OMNIRELAY_BASE_URL"] + "/v1",
    api_key=os.environ["OMNIRELAY_KEY"],
)

tools = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string", "description": "The city, e.g. Boston, MA"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["location"],
            },
        },
    }
]


def get_current_weather(location: str, unit: str = "fahrenheit") -> str:
    # Your own code: a weather API, a database...
    return json.dumps({"location": location, "temperature": "72", "unit": unit})


messages = [{"role": "user", "content": "What is the weather like in Boston today?"}]
first = client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)
call = first.choices[0].message.tool_calls[0]
print("the model calls:", call.function.name, call.function.arguments)

# Run the function, and give the model its result
result = get_current_weather(**json.loads(call.function.arguments))
messages += [first.choices[0].message, {"role": "tool", "tool_call_id": call.id, "content": result}]
final = client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)
print("answer:", final.choices[0].message.content)
