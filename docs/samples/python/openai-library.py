import os

# The official library reads OPENAI_BASE_URL and OPENAI_API_KEY: set them once (here, or in
# your shell) and every tool built on it (AutoGPT, langchain, ...) talks to omnirelay.
os.environ["OPENAI_BASE_URL"] = os.environ["OMNIRELAY_BASE_URL"] + "/v1"
os.environ["OPENAI_API_KEY"] = os.environ["OMNIRELAY_KEY"]

from openai import OpenAI

client = OpenAI()  # no arguments: the environment says where and with which key
print(client.base_url)

models = [m.id for m in client.models.list()]
print(len(models), "models, e.g.", ", ".join(models[:5]))

reply = client.chat.completions.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello"}]
)
print(reply.choices[0].message.content)
