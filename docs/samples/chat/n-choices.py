import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ["OMNIRELAY_BASE_URL"] + "/v1",
    api_key=os.environ["OMNIRELAY_KEY"],
)

completion = client.chat.completions.create(
    model="gpt-4o-mini",
    n=3,
    messages=[{"role": "user", "content": "Suggest a name for a lighthouse"}],
)
for choice in completion.choices:
    print(choice.index, choice.message.content)
print(completion.usage.completion_tokens, "completion tokens for all three")
