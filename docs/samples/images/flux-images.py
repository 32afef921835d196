import base64
import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ["OMNIRELAY_BASE_URL"] + "/v1",
    api_key=os.environ["OMNIRELAY_KEY"],
)

result = client.images.generate(
    model="flux-pro-1.1",
    prompt="a red fox in snow",
    size="1024x768",
    n=2,
    response_format="b64_json",  # the gateway downloads the images for you
)
for i, image in enumerate(result.data):
    with open(f"fox-{i}.png", "wb") as f:
        f.write(base64.b64decode(image.b64_json))
    print(f"saved fox-{i}.png")
