import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ["OMNIRELAY_BASE_URL"] + "/v1",
    api_key=os.environ["OMNIRELAY_KEY"],
)

completion = client.chat.completions.create(
    model="gpt-4o",
    messages=[
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is a model gateway?"},
    ],
    temperature=0.7,
    max_tokens=200,
)
choice = completion.choices[0]
print(choice.message.content)
print("finish_reason:", choice.finish_reason)
print("usage:", completion.usage.prompt_tokens, "in,", completion.usage.completion_tokens, "out")
