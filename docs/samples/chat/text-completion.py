import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ["OMNIRELAY_BASE_URL"] + "/v1",
    api_key=os.environ["OMNIRELAY_KEY"],
)

completion = client.completions.create(
    model="gpt-3.5-turbo-instruct", prompt="Say this is a test", max_tokens=7, temperature=0
)
print(repr(completion.choices[0].text), completion.choices[0].finish_reason)
