import base64
import os
import time

import httpx

mj = httpx.Client(
    base_url=os.environ["OMNIRELAY_BASE_URL"],
    headers={"mj-api-secret": os.environ["OMNIRELAY_KEY"]},
    timeout=60,
)
with open("picture.png", "rb") as f:
    picture = "data:image/png;base64," + base64.b64encode(f.read()).decode()

task_id = mj.post("/mj/submit/describe", json={"base64": picture}).json()["result"]
while (task := mj.get(f"/mj/task/{task_id}/fetch").json())["status"] not in ("SUCCESS", "FAILURE"):
    time.sleep(3)
print(task["promptEn"])  # four prompts that would draw it
