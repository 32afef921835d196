import os

import httpx
from openai import OpenAI

client = OpenAI(
    base_url=os.environ["OMNIRELAY_BASE_URL"] + "/v1",
    api_key=os.environ["OMNIRELAY_KEY"],
)

result = client.images.generate(
    model="dall-e-3", prompt="a white siamese cat", size="1024x1024", quality="standard", n=1
)
image = result.data[0]
print("revised prompt:", image.revised_prompt)
# Vendor URLs expire: download what you keep
with open("cat.png", "wb") as f:
    f.write(httpx.get(image.url, timeout=60).content)
print("saved cat.png")
