import hashlib
import hmac
import json
import os
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx

KEY = os.environ["OMNIRELAY_KEY"]
# Shown once, with the key (whsec_...); your operator can rotate it.
SECRET = os.environ["OMNIRELAY_WEBHOOK_SECRET"]


def verify(webhook_secret: str, raw_body: bytes, header: str, tolerance: int = 300) -> bool:
    """True when X-Omnirelay-Signature is the gateway's signature of this body."""
    secret = webhook_secret.encode()
    fields = dict(part.split("=", 1) for part in header.split(","))
    signed = f"{fields['t']}.".encode() + raw_body
    expected = hmac.new(secret, signed, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(fields["t"])) < tolerance
    return hmac.compare_digest(expected, fields["v1"]) and fresh


# A receiver of your own (here on this machine; in real life, your server's public URL)
deliveries: queue.Queue[tuple[bytes, str]] = queue.Queue()


class Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        deliveries.put((body, self.headers.get("X-Omnirelay-Signature", "")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


server = HTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=server.serve_forever, daemon=True).start()
callback_url = f"http://127.0.0.1:{server.server_port}/hook"

reply = httpx.post(
    os.environ["OMNIRELAY_BASE_URL"] + "/kling/v1/videos/text2video",
    headers={"Authorization": f"Bearer {KEY}"},
    json={"prompt": "waves at night", "callback_url": callback_url, "external_task_id": "my-42"},
    timeout=60,
).json()
print("task", reply["data"]["task_id"])

while True:
    body, signature = deliveries.get(timeout=120)
    task = json.loads(body)["data"]
    print(task["task_status"], "signature ok:", verify(SECRET, body, signature))
    if task["task_status"] in ("succeed", "failed"):
        break
server.shutdown()
