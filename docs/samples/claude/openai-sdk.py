import os

from openai import OpenAI

# Claude through the OpenAI SDK: the request and the answer are translated both ways
client = OpenAI(
    base_url=os.environ["OMNIRELAY_BASE_URL"] + "/v1",
    api_key=os.environ["OMNIRELAY_KEY"],
)
reply = client.chat.completions.create(
    model="claude-3-5-sonnet-20241022",
    messages=[
        {"role": "system", "content": "Answer in one sentence."},
        {"role": "user", "content": "Why is the sky blue?"},
    ],
)
print(reply.model, "->", reply.choices[0].message.content)
