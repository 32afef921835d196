import os
import time

import httpx

api = httpx.Client(
    base_url=os.environ["OMNIRELAY_BASE_URL"],
    headers={"Authorization": f"Bearer {os.environ['OMNIRELAY_KEY']}"},
    timeout=60,
)

submitted = api.post(
    "/kling/v1/videos/image2video",
    json={
        "model_name": "kling-v1",
        "image": "https://p2.a.kwimgs.com/bs2/upload-ylab-stunt/ai_portal/1731125871/6N0QrAnAeU/409-f054fa25c21a.png",
        "prompt": "A girl sitting on a bench beside the street, smiling and shaking her hair",
        "mode": "std",
        "duration": "5",
    },
).json()
if submitted["code"] != 0:
    raise SystemExit(f"refused: {submitted['code']} {submitted['message']}")
task_id = submitted["data"]["task_id"]
print("task", task_id)

while True:
    task = api.get(f"/kling/v1/videos/image2video/{task_id}").json()["data"]
    print(task["task_status"])
    if task["task_status"] in ("succeed", "failed"):
        break
    time.sleep(3)

if task["task_status"] == "failed":
    raise SystemExit(task["task_status_msg"])
video = task["task_result"]["videos"][0]
with open("video.mp4", "wb") as f:
    f.write(api.get(video["url"]).content)
print("saved video.mp4,", video["duration"], "seconds")
