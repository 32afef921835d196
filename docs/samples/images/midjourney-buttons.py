import os
import time

import httpx

mj = httpx.Client(
    base_url=os.environ["OMNIRELAY_BASE_URL"],
    headers={"mj-api-secret": os.environ["OMNIRELAY_KEY"]},
    timeout=60,
)


def wait(task_id: str) -> dict:
    while True:
        task = mj.get(f"/mj/task/{task_id}/fetch").json()
        print(task["action"], task["status"], task["progress"])
        if task["status"] in ("SUCCESS", "FAILURE"):
            return task
        time.sleep(3)


reply = mj.post("/mj/submit/imagine", json={"prompt": "koi in a pond"}).json()
if reply["code"] != 1:
    raise SystemExit(f"refused: {reply['code']} {reply['description']}")
grid = wait(reply["result"])

# Press a button of the finished grid: U2 upscales its second picture
u2 = next(b["customId"] for b in grid["buttons"] if b["label"] == "U2")
action = mj.post("/mj/submit/action", json={"taskId": grid["id"], "customId": u2}).json()
upscale = wait(action["result"])
with open("koi.png", "wb") as f:
    f.write(mj.get(upscale["imageUrl"]).content)
print("saved koi.png")

# Custom Zoom answers code 21: the new task waits for its prompt (the modal)
zoom = next(b["customId"] for b in upscale["buttons"] if b["label"] == "Custom Zoom")
waiting = mj.post("/mj/submit/action", json={"taskId": upscale["id"], "customId": zoom}).json()
print("code", waiting["code"], waiting["description"])
modal = {"taskId": waiting["result"], "prompt": "koi in a pond --zoom 1.5"}
mj.post("/mj/submit/modal", json=modal)
print(wait(waiting["result"])["status"])
