import os

from openai import OpenAI

# Kling images through the OpenAI images endpoint: the gateway submits and waits for you
client = OpenAI(
    base_url=os.environ["OMNIRELAY_BASE_URL"] + "/v1",
    api_key=os.environ["OMNIRELAY_KEY"],
)
result = client.images.generate(model="kling-v1", prompt="a lighthouse at dawn", size="1024x1024")
print(result.data[0].url)
