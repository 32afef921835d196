import base64
import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ["OMNIRELAY_BASE_URL"] + "/v1",
    api_key=os.environ["OMNIRELAY_KEY"],
)

response = client.images.generate(
    model="dall-e-3",
    prompt="a sea otter holding a lantern, digital art",
    size="1024x1024",
    quality="hd",
    style="vivid",
    response_format="b64_json",
)
with open("otter.png", "wb") as f:
    f.write(base64.b64decode(response.data[0].b64_json))
print("saved otter.png; revised prompt:", response.data[0].revised_prompt)
