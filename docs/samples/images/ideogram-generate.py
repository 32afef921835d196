import os

import httpx

api = httpx.Client(
    base_url=os.environ["OMNIRELAY_BASE_URL"],
    headers={"Api-Key": os.environ["OMNIRELAY_KEY"]},
    timeout=120,
)
reply = api.post(
    "/ideogram/generate",
    json={"image_request": {"prompt": "a fox", "aspect_ratio": "ASPECT_16_9", "num_images": 2}},
).json()
for image in reply["data"]:
    if image["url"]:  # an image that failed the safety check has no URL
        name = f"fox-{image['seed']}.png"
        with open(name, "wb") as f:
            f.write(httpx.get(image["url"], timeout=60).content)
        print("saved", name, image["resolution"])
