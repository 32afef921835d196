"""Midjourney end to end: a live omnirelay (``serve --demo``) and the sandbox's proxy."""

from __future__ import annotations

import itertools
import re

import httpx
from PIL import Image, ImageStat

from tests.support.midjourney import (
    PRICES,
    button,
    data_url,
    fetch,
    headers,
    picture,
    post,
    submit,
    wait_status,
    wait_task,
)
from tests.support.servers import GatewayProcess

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _quadrant_means(image: Image.Image) -> list[tuple[float, ...]]:
    w, h = image.size
    boxes = [
        (0, 0, w // 2, h // 2),
        (w // 2, 0, w, h // 2),
        (0, h // 2, w // 2, h),
        (w // 2, h // 2, w, h),
    ]
    return [tuple(ImageStat.Stat(image.crop(box).convert("RGB")).mean) for box in boxes]


def _distance(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return float(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) ** 0.5)


def test_imagine_moves_through_progress_to_a_grid_with_buttons(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("mj-imagine", quota_usd=1)
    response = post(
        gateway, "/mj/submit/imagine", key, {"prompt": "a lighthouse at dusk", "state": "s1"}
    )
    assert response.status_code == 200
    reply = response.json()
    assert reply["code"] == 1 and reply["description"] == "Submit success", reply
    assert reply["properties"] == {}
    task = wait_task(gateway, key, reply["result"])
    assert task["status"] == "SUCCESS" and task["progress"] == "100%", task
    assert task["action"] == "IMAGINE" and task["state"] == "s1"
    assert (
        task["prompt"] == "a lighthouse at dusk"
        and task["description"] == "/imagine a lighthouse at dusk"
    )
    assert task["submitTime"] <= task["startTime"] <= task["finishTime"]
    # Progress moved through values strictly between 0% and 100% on the way.
    middle = [int(p.rstrip("%")) for s, p in task["_seen"] if s == "IN_PROGRESS"]
    assert middle and all(0 < p < 100 for p in middle) and middle == sorted(middle), task["_seen"]
    # The image is served by omnirelay: a real PNG grid of four different pictures.
    assert task["imageUrl"] == f"{gateway.url}/mj/image/{task['id']}"
    grid = picture(task["imageUrl"])
    assert grid.size[0] >= 1024 and grid.size[1] >= 1024
    means = _quadrant_means(grid)
    assert all(_distance(a, b) > 25 for a, b in itertools.combinations(means, 2)), means
    labels = [b["label"] or b["emoji"] for b in task["buttons"]]
    assert labels == ["U1", "U2", "U3", "U4", "🔄", "V1", "V2", "V3", "V4"]
    # Buttons carry our task id, never the upstream's message hash.
    assert all(
        task["id"] in b["customId"] and not UUID.search(b["customId"]) for b in task["buttons"]
    )
    gateway.wait_for_balance(key_id, 1_000_000 - PRICES["imagine"])
    [record] = gateway.wait_for_usage(key_id=key_id, count=1)
    assert record["cost"] == PRICES["imagine"] and record["request_id"] == task["id"]


def test_imagine_u2_then_vary_then_v1_through_buttons(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("mj-chain", quota_usd=1)
    grid_id = submit(gateway, "/mj/submit/imagine", key, {"prompt": "koi in a pond"})
    grid = wait_task(gateway, key, grid_id)
    grid_picture = picture(grid["imageUrl"])

    up_id = submit(
        gateway, "/mj/submit/action", key, {"taskId": grid_id, "customId": button(grid, "U2")}
    )
    upscaled = wait_task(gateway, key, up_id)
    assert upscaled["status"] == "SUCCESS" and upscaled["action"] == "UPSCALE", upscaled
    assert upscaled["description"] == f"/up {grid_id} U2" and upscaled["parentId"] == grid_id
    assert upscaled["prompt"] == "koi in a pond"
    single = picture(upscaled["imageUrl"])
    assert single.size == (1024, 1024)
    # The upscale is quadrant 2 of the grid, not another picture.
    second = _quadrant_means(grid_picture)[1]
    assert _distance(tuple(ImageStat.Stat(single.convert("RGB")).mean), second) < 12
    assert {"Vary (Subtle)", "Vary (Strong)", "Zoom Out 2x", "Custom Zoom"} <= {
        b["label"] for b in upscaled["buttons"]
    }

    vary_id = submit(
        gateway,
        "/mj/submit/action",
        key,
        {"taskId": up_id, "customId": button(upscaled, "Vary (Subtle)")},
    )
    varied = wait_task(gateway, key, vary_id)
    assert varied["action"] == "VARIATION" and varied["status"] == "SUCCESS", varied
    v1_id = submit(
        gateway, "/mj/submit/action", key, {"taskId": vary_id, "customId": button(varied, "V1")}
    )
    v1 = wait_task(gateway, key, v1_id)
    assert v1["action"] == "VARIATION" and v1["status"] == "SUCCESS" and v1["parentId"] == vary_id
    assert picture(v1["imageUrl"]).size == (1024, 1024)
    spent = PRICES["imagine"] + PRICES["upscale"] + 2 * PRICES["variation"]
    gateway.wait_for_balance(key_id, 1_000_000 - spent)
    assert len(gateway.wait_for_usage(key_id=key_id, count=4)) == 4


def test_change_and_simple_change_in_every_form(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("mj-change", quota_usd=1)
    parent = submit(gateway, "/mj/submit/imagine", key, {"prompt": "paper boats"})
    wait_task(gateway, key, parent)
    forms = [
        ("/mj/submit/change", {"taskId": parent, "action": "UPSCALE", "index": 1}, "UPSCALE", "U1"),
        (
            "/mj/submit/change",
            {"taskId": parent, "action": "VARIATION", "index": 3},
            "VARIATION",
            "V3",
        ),
        ("/mj/submit/change", {"taskId": parent, "action": "REROLL"}, "REROLL", "R"),
        ("/mj/submit/simple-change", {"content": f"{parent} U2"}, "UPSCALE", "U2"),
        ("/mj/submit/simple-change", {"content": f"{parent} v4"}, "VARIATION", "V4"),
        ("/mj/submit/simple-change", {"content": f"{parent} R"}, "REROLL", "R"),
    ]
    expected = PRICES["imagine"]
    for path, body, action, label in forms:
        task = wait_task(gateway, key, submit(gateway, path, key, body))
        assert task["status"] == "SUCCESS" and task["action"] == action, task
        assert task["description"] == f"/up {parent} {label}"
        expected += PRICES[action.lower()]
        if action == "UPSCALE":
            assert picture(task["imageUrl"]).size == (1024, 1024)
    gateway.wait_for_balance(key_id, 1_000_000 - expected)


def test_describe_and_blend_take_real_images(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("mj-images", quota_usd=1)
    described = wait_task(
        gateway,
        key,
        submit(gateway, "/mj/submit/describe", key, {"base64": data_url(600, 400, (30, 60, 200))}),
    )
    assert described["status"] == "SUCCESS" and described["action"] == "DESCRIBE", described
    prompts = [line for line in described["properties"]["finalPrompt"].split("\n") if line.strip()]
    assert len(prompts) == 4 and all("--ar 3:2" in p for p in prompts), prompts
    assert "blue" in described["promptEn"]
    assert picture(described["imageUrl"]).size == (600, 400)  # the image it described
    # Its numbered buttons imagine the numbered prompt.
    imagined = wait_task(
        gateway,
        key,
        submit(
            gateway,
            "/mj/submit/action",
            key,
            {"taskId": described["id"], "customId": button(described, "2️⃣")},
        ),
    )
    assert imagined["action"] == "IMAGINE" and imagined["status"] == "SUCCESS"
    assert imagined["prompt"] in described["promptEn"] and imagined["prompt"].startswith("abstract")

    red, green = data_url(512, 512, (220, 20, 20)), data_url(640, 480, (20, 200, 20))
    blended = wait_task(
        gateway,
        key,
        submit(
            gateway,
            "/mj/submit/blend",
            key,
            {"base64Array": [red, green], "dimensions": "PORTRAIT"},
        ),
    )
    assert blended["status"] == "SUCCESS" and blended["action"] == "BLEND", blended
    image = picture(blended["imageUrl"])
    assert image.size == (832, 1248)
    r, g, _ = ImageStat.Stat(image.convert("RGB").crop((0, 0, 100, 100))).mean
    assert 80 < r < 160 and 80 < g < 150, (r, g)  # half red, half green: a blend of both
    spent = PRICES["describe"] + PRICES["imagine"] + PRICES["blend"]
    gateway.wait_for_balance(key_id, 1_000_000 - spent)


def test_shorten_image_seed_and_list_by_condition(gateway: GatewayProcess) -> None:
    key, _ = gateway.create_key("mj-misc", quota_usd=1)
    long_prompt = "a very detailed painting of an old harbour with the fishing boats at the dawn"
    shortened = wait_task(
        gateway, key, submit(gateway, "/mj/submit/shorten", key, {"prompt": long_prompt})
    )
    assert shortened["status"] == "SUCCESS" and shortened["action"] == "SHORTEN", shortened
    assert (
        shortened["imageUrl"] is None and shortened["properties"]["finalPrompt"].count("\n\n") == 4
    )
    seed = httpx.get(
        f"{gateway.url}/mj/task/{shortened['id']}/image-seed", headers=headers(key), timeout=30
    )
    assert seed.status_code == 400 and seed.json()["code"] == 4  # no picture, no seed

    grid = submit(gateway, "/mj/submit/imagine", key, {"prompt": "seeded dunes"})
    running = fetch(gateway, key, grid).json()
    early = httpx.get(f"{gateway.url}/mj/task/{grid}/image-seed", headers=headers(key), timeout=30)
    if running["status"] != "SUCCESS":
        assert early.status_code == 400 and early.json()["code"] == 4
    wait_task(gateway, key, grid)
    seed = httpx.get(f"{gateway.url}/mj/task/{grid}/image-seed", headers=headers(key), timeout=30)
    assert seed.status_code == 200 and seed.json()["code"] == 1 and seed.json()["result"].isdigit()

    listed = post(
        gateway, "/mj/task/list-by-condition", key, {"ids": [grid, "nope", shortened["id"]]}
    )
    assert listed.status_code == 200
    assert [t["id"] for t in listed.json()] == [grid, shortened["id"]]
    assert post(gateway, "/mj/task/list-by-condition", key, {}).json() == []


def test_custom_zoom_waits_for_its_modal(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("mj-modal", quota_usd=1)
    grid = submit(gateway, "/mj/submit/imagine", key, {"prompt": "a glass city"})
    wait_task(gateway, key, grid)
    up = submit(gateway, "/mj/submit/simple-change", key, {"content": f"{grid} U1"})
    upscaled = wait_task(gateway, key, up)
    response = post(
        gateway,
        "/mj/submit/action",
        key,
        {"taskId": up, "customId": button(upscaled, "Custom Zoom")},
    )
    reply = response.json()
    assert response.status_code == 200 and reply["code"] == 21, reply
    assert (
        reply["description"] == "Waiting for window confirm"
        and reply["properties"]["remix"] is True
    )
    zoom = reply["result"]
    waiting = wait_status(gateway, key, zoom, "MODAL")
    assert waiting["action"] == "ZOOM" and waiting["progress"] == "0%"
    done = post(
        gateway, "/mj/submit/modal", key, {"taskId": zoom, "prompt": "a glass city --zoom 1.5"}
    )
    assert done.status_code == 200 and done.json() == {
        "code": 1,
        "description": "Submit success",
        "result": zoom,
        "properties": {},
    }
    zoomed = wait_task(gateway, key, zoom)
    assert zoomed["status"] == "SUCCESS" and zoomed["prompt"] == "a glass city --zoom 1.5", zoomed
    assert picture(zoomed["imageUrl"]).size == (1024, 1024)
    # A second modal for the same task is refused: it no longer waits.
    again = post(gateway, "/mj/submit/modal", key, {"taskId": zoom, "prompt": "x"}).json()
    assert again["code"] == 4
    gateway.wait_for_balance(
        key_id, 1_000_000 - PRICES["imagine"] - PRICES["upscale"] - PRICES["zoom"]
    )


def test_speed_prefixes_and_bearer_auth(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("mj-modes", quota_usd=1)
    relax = post(
        gateway, "/mj-relax/mj/submit/imagine", key, {"prompt": "slow clouds"}, scheme="bearer"
    )
    turbo = post(
        gateway, "/mj-turbo/mj/submit/imagine", key, {"prompt": "fast cars"}, scheme="bearer"
    )
    relaxed = wait_task(gateway, key, relax.json()["result"])
    turbod = wait_task(gateway, key, turbo.json()["result"])
    assert (relaxed["mode"], turbod["mode"]) == ("RELAX", "TURBO")
    # Fetch works under any prefix; a child keeps its parent's speed on plain /mj.
    assert fetch(gateway, key, relaxed["id"], prefix="/mj-fast/mj").json()["id"] == relaxed["id"]
    child = wait_task(
        gateway,
        key,
        submit(gateway, "/mj/submit/simple-change", key, {"content": f"{relaxed['id']} U1"}),
    )
    assert child["mode"] == "RELAX"
    spent = PRICES["imagine"] // 2 + PRICES["imagine"] * 2 + PRICES["upscale"] // 2
    gateway.wait_for_balance(key_id, 1_000_000 - spent)


def test_authentication_and_unknown_routes(gateway: GatewayProcess) -> None:
    for sent in ({}, {"mj-api-secret": "sk-or-not-a-key"}, {"Authorization": "Bearer nope"}):
        response = httpx.post(
            f"{gateway.url}/mj/submit/imagine", json={"prompt": "x"}, headers=sent, timeout=30
        )
        assert response.status_code == 401 and response.json()["code"] == 4, response.text
    key, _ = gateway.create_key("mj-routes")
    response = httpx.get(f"{gateway.url}/mj/submit/nothing", headers=headers(key), timeout=30)
    assert response.status_code == 404 and response.json()["code"] == 3
    assert httpx.get(f"{gateway.url}/mj/image/not-a-task", timeout=30).status_code == 404
