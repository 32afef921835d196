import os

from openai import OpenAI
from pydantic import BaseModel

client = OpenAI(
    base_url=os.environ["OMNIRELAY_BASE_URL"] + "/v1",
    api_key=os.environ["OMNIRELAY_KEY"],
)


class CalendarEvent(BaseModel):
    name: str
    date: str
    participants: list[str]


# The SDK turns the class into a strict JSON schema and parses the answer back into it
completion = client.chat.completions.parse(
    model="gpt-4o",
    messages=[
        {"role": "system", "content": "Extract the event."},
        {"role": "user", "content": "Alice and Bob are going to a science fair on Friday."},
    ],
    response_format=CalendarEvent,
)
event = completion.choices[0].message.parsed
print(type(event).__name__, event.model_dump())
