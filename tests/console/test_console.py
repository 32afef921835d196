"""The web console in a real headless Chromium, against a live gateway and the sandbox.

An operator signs in, makes a user, a key and a limit, adds and tests a channel, watches the
request log and the overview fill with traffic, plays a finished video and a Suno song, and
streams a playground chat; then the user signs in with that key, sees only their own data and
redeems a code. Every page is screenshotted at desktop width and at 390 px into
``tests/artifacts/console/`` (looked at by people, compared by nothing).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support.servers import GatewayProcess
from tests.support.tasks import wait_task

pytestmark = pytest.mark.parametrize("gateway", ["sqlite"], indirect=True)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"
SANDBOX_KEY = "sk-sandbox-demo"  # Settings.sandbox_key: what the sandbox's vendors accept
ADMIN_PAGES = [
    "overview",
    "users",
    "keys",
    "codes",
    "channels",
    "models",
    "log",
    "tasks",
    "playground",
    "start",
]
USER_PAGES = ["me", "my-keys", "log", "tasks", "playground", "start"]




class Watched:
    """A browser context whose page records what went wrong in the browser (script errors,
    CSP violations), which every test checks at its end."""

    def __init__(self, browser: Browser, width: int, dark: bool = False) -> None:
        self.context: BrowserContext = browser.new_context(
            viewport={"width": width, "height": 900},
            accept_downloads=True,
            color_scheme="dark" if dark else "light",
        )
        self.page: Page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.problems.append(f"console: {message.text}")
        if "Content Security Policy" in message.text:
            self.problems.append(f"CSP: {message.text}")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watched(browser: Browser) -> Iterator[Any]:
    opened: list[Watched] = []

    def open_context(width: int = 1280, dark: bool = False) -> Watched:
        context = Watched(browser, width, dark)
        opened.append(context)
        return context

    yield open_context
    problems = [p for context in opened for p in context.problems]
    for context in opened:
        context.close()
    assert not problems, problems


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(150)  # let charts draw
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, gateway: GatewayProcess, key: str) -> None:
    page.goto(gateway.url + "/")
    expect(page).to_have_url(gateway.url + "/console/")
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("main.main h1")).to_be_visible()


def visit(page: Page, gateway: GatewayProcess, name: str) -> None:
    page.goto(f"{gateway.url}/console/#/{name}")
    expect(page.locator(f'.nav a[data-page="{name}"]')).to_have_attribute("aria-current", "page")
    expect(page.locator("main.main .loading")).to_have_count(0, timeout=15_000)


def api(gateway: GatewayProcess, key: str, method: str, path: str, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.request(method, gateway.url + path, headers=headers, timeout=30, **kw)


def media_plays(page: Page, selector: str) -> None:
    """The element loads (readyState >= 2: it has data for the current frame) and plays."""
    element = page.locator(selector).first
    expect(element).to_be_attached()
    element.evaluate("el => { el.muted = true; return el.play(); }")
    page.wait_for_function(
        "el => el.readyState >= 2 && el.currentTime > 0", arg=element.element_handle()
    )


def test_operator_and_user_live_in_the_console(gateway: GatewayProcess, watched: Any) -> None:
    tag = f"{int(time.time() * 1000) % 10**8}"
    admin = watched()
    page = admin.page

    # --- signing in: a session cookie, never the key in the page's storage ------------------
    sign_in(page, gateway, gateway.admin_key)
    expect(page.locator("h1")).to_have_text("Overview")
    [cookie] = [c for c in admin.context.cookies() if c["name"] == "omnirelay_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    stored = page.evaluate(
        "() => JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})"
    )
    assert gateway.admin_key not in stored and "sk-or-" not in page.url
    # A change without the session's CSRF token is refused, by the server.
    refused = page.evaluate(
        """() => fetch('/admin/groups', {method: 'POST', headers: {'Content-Type': 'application/json'},
             body: JSON.stringify({name: 'csrf-probe'})}).then(r => r.status)"""
    )
    assert refused == 403

    # --- a user with a balance, and a key for them, shown once with a copy button -----------
    visit(page, gateway, "users")
    user_name = f"ada-{tag}"
    form = page.get_by_role("form", name="Create a user")
    form.get_by_label("Name", exact=True).fill(user_name)
    form.get_by_label("Opening balance (USD)", exact=True).fill("1")
    form.get_by_role("button", name="Create user").click()
    row = page.locator("tr", has_text=user_name)
    expect(row).to_contain_text("$1.00")
    user_id = int(row.locator("td").first.inner_text())

    visit(page, gateway, "keys")
    form = page.get_by_role("form", name="Create a key")
    form.get_by_label("Name", exact=True).fill(f"laptop-{tag}")
    form.get_by_label("User", exact=True).select_option(str(user_id))
    form.get_by_role("button", name="Create key").click()
    dialog = page.locator("dialog[open]")
    expect(dialog.get_by_role("button", name="Copy")).to_be_visible()
    user_key = dialog.get_by_label("The new key", exact=True).input_value()
    assert user_key.startswith("sk-or-")
    dialog.get_by_role("button", name="Copy").click()
    expect(dialog.get_by_role("button", name=re.compile("Copied|Select and copy"))).to_be_visible()
    dialog.get_by_role("button", name="Close").click()

    # --- a limit on it -----------------------------------------------------------------------
    page.get_by_role("button", name=f"Limits of laptop-{tag}").click()
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("Requests / minute", exact=True).fill("120")
    dialog.get_by_label("Daily spend (USD)", exact=True).fill("5")
    dialog.get_by_role("button", name="Save limits").click()
    expect(page.locator("tr", has_text=f"laptop-{tag}")).to_contain_text("120 rpm · $5/day")
    [key] = [k for k in gateway.admin("GET", f"/admin/keys?user_id={user_id}").json()["data"]]
    assert key["limits"] == {"rpm": 120, "daily_usd": 5.0}
    shot(page, "flow-admin-key-limited")

    # --- a channel, added with its vendor's form and tested -----------------------------------
    visit(page, gateway, "channels")
    page.get_by_role("button", name="Add channel").click()
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("Name", exact=True).fill(f"backup-openai-{tag}")
    dialog.get_by_label("Vendor", exact=True).select_option("kling")
    expect(
        dialog.get_by_label("Access key", exact=True)
    ).to_be_visible()  # Kling's form: a key pair
    expect(dialog.get_by_label("Secret key", exact=True)).to_be_visible()
    dialog.get_by_label("Vendor", exact=True).select_option("openai")
    expect(dialog.get_by_label("Access key", exact=True)).to_have_count(0)
    dialog.get_by_label("Base URL", exact=True).fill(gateway.sandbox_url + "/v1")
    dialog.get_by_label("API key", exact=True).fill(SANDBOX_KEY)
    dialog.get_by_label("gpt-4o-mini", exact=True).check()
    dialog.get_by_label("Priority", exact=True).fill("-1")
    dialog.get_by_role("button", name="Add channel").click()
    row = page.locator("tr", has_text=f"backup-openai-{tag}")
    expect(row).to_contain_text("1 chosen")
    row.get_by_role("button", name="Test").click()
    result = row.locator("[data-result]")
    expect(result).to_have_attribute("data-result", "ok", timeout=20_000)
    expect(result).to_contain_text(re.compile(r"ok · \d+ ms"))
    expect(result).to_contain_text("Answer:")
    shot(page, "flow-admin-channel-tested")

    # --- traffic from the user's key: chat, embeddings, a video and a song -------------------
    for text in ("hello console", "second request"):
        api(gateway, user_key, "POST", "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}).raise_for_status()  # fmt: skip
    api(gateway, user_key, "POST", "/v1/embeddings",
        json={"model": "text-embedding-3-small", "input": "hi"}).raise_for_status()  # fmt: skip
    video = api(gateway, user_key, "POST", "/kling/v1/videos/text2video",
                json={"model_name": "kling-v1", "prompt": "a lighthouse in the rain", "duration": "5"})  # fmt: skip
    song = api(
        gateway,
        user_key,
        "POST",
        "/suno/submit/music",
        json={"gpt_description_prompt": "a song about tide pools"},
    )
    video_id, song_id = video.json()["data"]["task_id"], song.json()["data"]
    api(gateway, gateway.admin_key, "POST", "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "admin only"}]}).raise_for_status()  # fmt: skip
    assert wait_task(gateway, video_id)["status"] == "succeeded"
    assert wait_task(gateway, song_id)["status"] == "succeeded"

    # --- the request log, filtered by the user, and one request's drawer ----------------------
    visit(page, gateway, "log")
    expect(page.locator("tbody tr", has_text="gpt-4o-mini").first).to_be_visible(timeout=10_000)
    page.goto(f"{gateway.url}/console/#/log?user_id={user_id}")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(5, timeout=10_000)  # 2 chats, embeddings, video, song
    rows.filter(has_text="chat.completions").first.click()
    drawer = page.locator("dialog.drawer[open]")
    for label in ("Tokens", "Money", "Timings", "Channel", "Latency", "First byte", "Cost"):
        expect(drawer).to_contain_text(label)
    shot(page, "flow-admin-log-drawer")
    page.keyboard.press("Escape")
    expect(drawer).to_have_count(0)

    # --- the overview's charts fill -----------------------------------------------------------
    visit(page, gateway, "overview")
    page.get_by_role("button", name="Last hour").click()
    expect(page.locator("#chart-requests")).to_have_attribute("data-filled", "true", timeout=10_000)
    expect(page.locator("#chart-spend")).to_have_attribute("data-filled", "true")
    expect(page.locator("#chart-latency canvas")).to_have_count(1)
    expect(page.locator("#top-models + *")).to_contain_text("kling-v1")
    expect(page.locator("#top-users + *")).to_contain_text(user_name)

    # --- the task gallery: a finished video plays, and a Suno clip ----------------------------
    visit(page, gateway, "tasks")
    media_plays(page, f'article[data-task="{video_id}"] video')
    media_plays(page, f'article[data-task="{song_id}"] audio')
    expect(page.locator(f'article[data-task="{video_id}"]')).to_contain_text("charged $")
    shot(page, "flow-admin-tasks-playing")

    # --- the playground: a chat streamed token by token, and a task watched to its end --------
    visit(page, gateway, "playground")
    chat = page.get_by_role("form", name="Chat")
    chat.get_by_label("Model", exact=True).select_option("claude-3-5-haiku-20241022")
    expect(chat).to_contain_text("Anthropic Messages")
    chat.get_by_label("Model", exact=True).select_option("gpt-4o-mini")
    chat.get_by_label("Message", exact=True).fill("Tell me about lighthouses in three sentences")
    chat.get_by_role("button", name="Send").click()
    answer = page.locator(".bubble.assistant").last
    expect(answer).to_have_attribute("data-state", "done", timeout=20_000)
    assert int(answer.get_attribute("data-chunks") or 0) > 1  # it arrived in pieces
    assert len(answer.locator(".answer").inner_text()) > 10
    expect(answer).to_contain_text("first token")
    page.get_by_role("tab", name="Task").click()
    task_form = page.get_by_role("form", name="Submit a task")
    task_form.get_by_label("Task", exact=True).select_option("picture")
    task_form.get_by_label("Prompt", exact=True).fill("a fox in the snow")
    task_form.get_by_role("button", name="Submit task").click()
    card = page.locator(".gallery article.card").first
    expect(card).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(card.locator("img")).to_be_visible()
    admin_task_id = card.get_attribute("data-task")
    shot(page, "flow-admin-playground-chat-and-task")

    # --- codes: a batch, downloaded as CSV, shown as unused -----------------------------------
    visit(page, gateway, "codes")
    form = page.get_by_role("form", name="Create a batch of codes")
    form.get_by_label("Batch name", exact=True).fill(f"promo-{tag}")
    form.get_by_label("Value (USD)", exact=True).fill("3")
    form.get_by_label("How many", exact=True).fill("2")
    form.get_by_role("button", name="Create codes").click()
    dialog = page.locator("dialog[open]")
    codes = dialog.get_by_label("The codes", exact=True).inner_text().split()
    assert len(codes) == 2 and all(c.startswith("or-") for c in codes)
    with page.expect_download() as download:
        dialog.get_by_role("button", name="Download CSV").click()
    csv_text = Path(download.value.path()).read_text()
    assert csv_text.splitlines()[0] == "code,batch,value_usd,expires_at"
    assert codes[0] in csv_text and f"promo-{tag}" in csv_text
    dialog.get_by_role("button", name="Close").click()
    expect(page.locator("tbody tr", has_text=f"promo-{tag}")).to_have_count(2)

    # --- every operator page, at desktop width ------------------------------------------------
    for name in ADMIN_PAGES:
        visit(page, gateway, name)
        shot(page, f"admin-{name}")

    # --- the user signs in with their key: their data only -----------------------------------
    user = watched()
    page = user.page
    sign_in(page, gateway, user_key)
    expect(page.locator("h1")).to_contain_text(user_name)
    expect(page.locator('.nav a[data-page="users"]')).to_have_count(0)
    balance = page.locator("#balance")
    expect(balance).not_to_have_text("—")
    before = int(balance.get_attribute("data-micro") or 0)
    # The server, not the page, keeps a user's key to its own data.
    statuses = page.evaluate(
        """async ([task, other]) => [
            (await fetch('/admin/keys')).status,
            (await fetch('/admin/usage')).status,
            (await fetch('/api/me/usage?user_id=' + other)).status,
            (await fetch('/api/me/tasks/' + task)).status,
            (await fetch('/api/me/tasks/' + task + '/files/0')).status,
        ]""",
        [admin_task_id, user_id + 1],
    )
    assert statuses == [403, 403, 403, 404, 404]
    own = page.evaluate("() => fetch('/api/me/usage').then(r => r.json())")["data"]
    assert len(own) == 5 and {r["user_id"] for r in own} == {user_id}

    visit(page, gateway, "log")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(5)
    visit(page, gateway, "tasks")
    expect(page.locator("article.card")).to_have_count(2)
    media_plays(page, f'article[data-task="{song_id}"] audio')

    visit(page, gateway, "me")
    redeem = page.get_by_role("form", name="Redeem a code")
    redeem.get_by_label("Redemption code", exact=True).fill(codes[0])
    redeem.get_by_role("button", name="Redeem").click()
    expect(redeem.get_by_role("status")).to_contain_text("Added $3.00")
    expect(balance).to_have_attribute("data-micro", str(before + 3_000_000))
    redeem.get_by_label("Redemption code", exact=True).fill(codes[0])
    redeem.get_by_role("button", name="Redeem").click()
    expect(redeem.get_by_role("alert")).to_contain_text("already redeemed")
    shot(page, "flow-user-redeemed")
    expect(page.locator("#chart-requests")).to_have_attribute("data-filled", "true")

    visit(page, gateway, "start")
    expect(page.locator("#snippet")).to_contain_text(f"{gateway.url}/v1/chat/completions")
    page.get_by_role("tab", name="Codex CLI").click()
    expect(page.locator("#snippet")).to_contain_text('wire_api = "responses"')
    page.get_by_role("tab", name="Claude Code").click()
    expect(page.locator("#snippet")).to_contain_text(f"ANTHROPIC_BASE_URL={gateway.url}")
    for name in USER_PAGES:
        visit(page, gateway, name)
        shot(page, f"user-{name}")

    # --- signing out ends the session on the server -------------------------------------------
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API key", exact=True)).to_be_visible()
    assert page.evaluate("() => fetch('/api/me').then(r => r.status)") == 401

    # --- the back office in the admin's session saw the redemption ----------------------------
    page = admin.page
    visit(page, gateway, "codes")
    batch = page.locator("tbody tr", has_text=f"promo-{tag}")
    expect(batch.filter(has_text=f"used by user {user_id}")).to_have_count(1)
    expect(batch.filter(has_text="available")).to_have_count(1)


def test_every_page_fits_a_phone(gateway: GatewayProcess, watched: Any) -> None:
    """390 px wide: no page scrolls sideways (wide tables scroll inside their box), and the
    menu opens and closes by keyboard. The user's pass is in the system's dark scheme."""
    key, _ = gateway.create_key("phone", quota_usd=1)
    httpx.post(gateway.v1 + "/chat/completions", headers={"Authorization": f"Bearer {key}"},
               json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}, timeout=30)  # fmt: skip
    for who, secret, pages in (
        ("admin", gateway.admin_key, ADMIN_PAGES),
        ("user", key, USER_PAGES),
    ):
        phone = watched(390, dark=who == "user")
        page = phone.page
        sign_in(page, gateway, secret)
        menu = page.get_by_role("button", name="Menu")
        expect(menu).to_be_visible()
        expect(page.locator("#sidebar")).to_be_hidden()
        menu.focus()
        page.keyboard.press("Enter")
        expect(menu).to_have_attribute("aria-expanded", "true")
        expect(page.locator("#sidebar")).to_be_visible()
        page.locator(f'.nav a[data-page="{pages[1]}"]').click()
        expect(page.locator("#sidebar")).to_be_hidden()
        if who == "user":  # the stylesheet follows the system's scheme
            background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
            assert background == "rgb(15, 18, 23)", background
        for name in pages:
            page.goto(f"{gateway.url}/console/#/{name}")
            expect(page.locator("main.main .loading")).to_have_count(0, timeout=15_000)
            page.wait_for_timeout(100)
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"{who} {name} scrolls sideways by {overflow}px"
            shot(page, f"phone-{who}-{name}")


def test_the_console_refuses_a_wrong_key_where_it_was_typed(
    gateway: GatewayProcess, watched: Any
) -> None:
    page = watched().page
    page.goto(gateway.url + "/console/")
    page.get_by_label("API key", exact=True).fill("sk-or-not-a-real-key")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("invalid API key")
    expect(page.get_by_label("API key", exact=True)).to_be_focused()
    shot(page, "sign-in-refused")
    response = httpx.get(gateway.url + "/console/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
