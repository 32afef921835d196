"""The sandbox's midjourney-proxy, under ``/mj`` and ``/mj-{fast,relax,turbo}/mj`` (a channel's
base URL is the sandbox's root), with the proxy's routes, codes and Chinese descriptions.

It checks ``mj-api-secret`` (401 with an empty body otherwise, as the proxy), validates as the
proxy does (and as Midjourney would: an action must name one of its task's buttons), and runs
tasks on a clock of ``step`` seconds: ``SUBMITTED`` for one step, ``IN_PROGRESS`` through
rising percentages for three, then ``SUCCESS`` with a real PNG (``drawing.py``: Pillow) and
Discord's buttons. Custom zoom and Vary (Region) wait in ``MODAL`` until ``/submit/modal``.

Markers in a prompt: ``[sandbox-fail]`` ends the task in ``FAILURE`` with a reason;
``[sandbox-fail-100]`` does so reporting ``progress: "100%"`` (as some relays do);
``[sandbox-slow]`` makes it take a hundred times as long; ``[sandbox-reject]`` refuses the
submission (code 23, queue full); ``[sandbox-banned]`` answers code 24 with the banned word.
``GET /mj/sandbox/stats`` counts the requests served, so tests can see how the gateway polls.
Tasks live in this process's memory (bounded).

Modules: ``tasks`` (a task, its clock, the Task JSON and buttons), ``submit`` (the submit
routes), ``routes`` (auth, queries, pictures, wiring), ``drawing`` (the pictures).
"""

from omnirelay.sandbox.midjourney.routes import add_routes, check_auth, owns
from omnirelay.sandbox.midjourney.tasks import (
    BANNED_MARKER,
    FAIL_AT_100_MARKER,
    FAIL_MARKER,
    REJECT_MARKER,
)

__all__ = [
    "BANNED_MARKER",
    "FAIL_AT_100_MARKER",
    "FAIL_MARKER",
    "REJECT_MARKER",
    "add_routes",
    "check_auth",
    "owns",
]
