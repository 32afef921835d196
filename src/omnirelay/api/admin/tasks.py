"""``/admin/tasks``: every task of every vendor (the console's gallery), and its files served
by the gateway itself, so a browser never needs to reach a vendor's CDN."""

from __future__ import annotations

import msgspec
from aiohttp import web

from omnirelay.api.admin.base import AdminCall, Route
from omnirelay.api.media_proxy import relay_file
from omnirelay.errors import NotFound, UpstreamError
from omnirelay.tasks import listing
from omnirelay.tasks.listing import TaskQuery, TaskView
from omnirelay.tasks.model import Task

BASE = "/admin/tasks"


class TaskList(msgspec.Struct):
    data: list[TaskView]
    next_cursor: str | None = None


async def _task(call: AdminCall, user_id: int | None = None) -> Task:
    task_id = call.path("task_id")
    task = await listing.get(call.db, task_id)
    if task is None or (user_id is not None and task.user_id != user_id):
        raise NotFound(f"no task {task_id}", code="task_not_found")
    return task


async def serve_file(call: AdminCall, task: Task) -> web.StreamResponse:
    """File ``n`` of a task's result, streamed from the vendor."""
    files = listing.files_of(task)
    index = call.path_int("n")
    if index >= len(files):
        raise NotFound(f"task {task.id} has no file {index}")
    try:
        return await relay_file(call.request, call.gateway.outbound, files[index])
    except web.HTTPBadGateway as exc:
        # In the envelope every admin error uses (the vendor may have let the file expire).
        raise UpstreamError(exc.text or "the vendor's file could not be fetched") from exc


async def list_tasks(call: AdminCall) -> TaskList:
    found, cursor = await listing.page(call.db, call.query(TaskQuery))
    return TaskList([listing.view(t, BASE) for t in found], cursor)


async def get_task(call: AdminCall) -> TaskView:
    return listing.view(await _task(call), BASE)


async def task_file(call: AdminCall) -> web.StreamResponse:
    return await serve_file(call, await _task(call))


_ONE = BASE + "/{task_id:[A-Za-z0-9_-]+}"
ROUTES = (
    Route(
        "GET",
        BASE,
        list_tasks,
        "Every task of every vendor, newest first (cursor paging)",
        "tasks",
        query=TaskQuery,
        response=TaskList,
    ),
    Route("GET", _ONE, get_task, "Get a task", "tasks", response=TaskView),
    Route(
        "GET",
        _ONE + "/files/{n:\\d+}",
        task_file,
        "A file of a task's result (image, video, audio), streamed from the vendor",
        "tasks",
    ),
)
