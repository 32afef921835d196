import base64
import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ["OMNIRELAY_BASE_URL"] + "/v1",
    api_key=os.environ["OMNIRELAY_KEY"],
)

with open("picture.png", "rb") as f:
    picture = base64.b64encode(f.read()).decode()

# Streaming, with one picture by URL and one inline
stream = client.chat.completions.create(
    model="gpt-4o",
    stream=True,
    messages=[
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Compare these two pictures"},
                {
                    "type": "image_url",
                    "image_url": {
                        "url": "https://upload.wikimedia.org/wikipedia/commons/thumb/d/dd/Gfp-wisconsin-madison-the-nature-boardwalk.jpg/2560px-Gfp-wisconsin-madison-the-nature-boardwalk.jpg"
                    },
                },
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{picture}"}},
            ],
        }
    ],
)
for chunk in stream:
    if chunk.choices:
        print(chunk.choices[0].delta.content or "", end="", flush=True)
print()
