import os
import time

import httpx

api = httpx.Client(
    base_url=os.environ["OMNIRELAY_BASE_URL"],
    headers={"Authorization": f"Bearer {os.environ['OMNIRELAY_KEY']}"},
    timeout=60,
)


def wait(task_id: str) -> dict:
    while True:
        task = api.get(f"/suno/fetch/{task_id}").json()["data"]
        print(task["status"], task["progress"])
        if task["status"] in ("SUCCESS", "FAILURE"):
            return task
        time.sleep(3)


reply = api.post(
    "/suno/submit/music",
    json={"prompt": "[Verse]\nSalt on the window", "tags": "folk", "title": "Keeper"},
).json()
if reply["code"] != "success":
    raise SystemExit(f"refused: {reply['code']} {reply['message']}")
task = wait(reply["data"])
for clip in task["data"]:  # two clips per submission
    print(clip["id"], clip["title"], clip["audio_url"], clip["metadata"]["duration"], "s")

# Extend the first clip from its 2nd second: the custom form plus the clip and its task
first = task["data"][0]
more = api.post(
    "/suno/submit/music",
    json={
        "prompt": "[Bridge]\nThe lamp goes round",
        "tags": "folk",
        "continue_clip_id": first["id"],
        "continue_at": 2,
        "task_id": task["task_id"],
    },
).json()
print("continuation:", wait(more["data"])["status"])
