"""The command line: ``omnirelay serve | demo | sandbox | keys | users | channels | tasks``.

Commands that change the platform go through the same validation as the admin API
(``platform.keyring``, ``platform.users``), so both refuse the same things in the same words.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select

from omnirelay import __version__
from omnirelay.channels import upsert_channels
from omnirelay.config import (
    DEFAULT_PORT,
    DEFAULT_SANDBOX_PORT,
    ChannelSpec,
    Settings,
    load_settings,
)
from omnirelay.crypto import load_secret_box
from omnirelay.errors import GatewayError
from omnirelay.gateway import bootstrap
from omnirelay.money import micro_to_usd
from omnirelay.observability import logs
from omnirelay.observability.metrics import MULTIPROC_ENV
from omnirelay.platform import balances, keyring, users
from omnirelay.store import channels, open_database
from omnirelay.store import users as users_table
from omnirelay.supervisor import handover
from omnirelay.worker import new_loop
from omnirelay.worker import run as run_worker

log = logging.getLogger("omnirelay")


def _wait_healthy(url: str, process: subprocess.Popen[bytes], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the sandbox exited early (code {process.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - our own loopback URL
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the sandbox did not answer at {url}")


def _port_taken(host: str, port: int) -> OSError | None:
    """Why ``host:port`` cannot be listened on, if it cannot. Workers listen with
    ``SO_REUSEPORT``, which would let a second gateway on a taken port share its traffic
    silently: a plain bind first makes that a clear start-up error."""
    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError as exc:
        return exc
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
            try:
                probe.bind(address)
            except OSError as exc:
                return exc
    return None


def _refuse_taken_ports(settings: Settings, with_sandbox: bool) -> None:
    wanted = [("the gateway", settings.host, settings.port)]
    if with_sandbox:
        wanted.append(("the demo's sandbox", "127.0.0.1", settings.sandbox_port))
    for what, host, port in wanted:
        problem = _port_taken(host, port)
        if problem is not None:
            reason = problem.strerror or str(problem)
            raise SystemExit(
                f"omnirelay: cannot listen on {host}:{port} for {what}: {reason} "
                "(another omnirelay, or another program, has it; choose another with --port"
                + (" / --sandbox-port" if with_sandbox else "")
                + ")"
            )


def _start_sandbox(settings: Settings) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "omnirelay",
        "sandbox",
        "--host",
        "127.0.0.1",
        "--port",
        str(settings.sandbox_port),
        "--key",
        settings.sandbox_key,
        "--kling-access-key",
        settings.sandbox_kling_access_key,
        "--kling-secret-key",
        settings.sandbox_kling_secret_key,
        # A gateway killed outright (SIGKILL, OOM) cannot stop it: it stops by itself.
        "--exit-with-parent",
        str(os.getpid()),
    ]
    process = subprocess.Popen(command)  # noqa: S603 - our own interpreter and module
    _wait_healthy(f"http://127.0.0.1:{settings.sandbox_port}/healthz", process)
    return process


def _metrics_dir(settings: Settings) -> str | None:
    """Several workers share their metrics through files in one folder, which must be named
    before any of them starts (prometheus-client reads it once); stale files are removed."""
    if settings.workers <= 1 or not settings.metrics:
        return None
    given = os.environ.get(MULTIPROC_ENV)
    folder = Path(given) if given else Path(tempfile.mkdtemp(prefix="omnirelay-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(folder)
    return None if given else str(folder)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = load_settings(
        config_file=args.config,
        host=args.host,
        port=args.port,
        workers=args.workers,
        demo=True if args.demo else None,
        sandbox_port=args.sandbox_port,
    )
    start_sandbox = settings.demo and not args.sandbox_running
    _refuse_taken_ports(settings, with_sandbox=start_sandbox)
    writer = logs.configure(settings.log_level, settings.log_format)
    sandbox = _start_sandbox(settings) if start_sandbox else None
    made_metrics_dir = _metrics_dir(settings)
    try:
        generated = asyncio.run(bootstrap(settings))
        if generated:
            print(f"\n  admin key (shown once, keep it): {generated}\n", flush=True)
        where = f"http://{settings.host}:{settings.port}"
        mode = " with the sandbox vendors (demo)" if settings.demo else ""
        print(
            f"omnirelay on {where}{mode}: {settings.workers} worker(s), "
            f"database {settings.resolved_database_url.split('://')[0]}",
            flush=True,
        )
        if settings.workers > 1:
            # This process has the gateway's modules loaded (the bootstrap's): it becomes a
            # fresh supervisor without them, which cleans up (sandbox, metrics files) at the end.
            writer.stop()
            handover(settings, sandbox.pid if sandbox is not None else None, made_metrics_dir)
        else:
            run_worker(settings, reuse_port=False)
    finally:
        if sandbox is not None:
            sandbox.terminate()
            sandbox.wait(10)
        if made_metrics_dir is not None:
            shutil.rmtree(made_metrics_dir, ignore_errors=True)
    return 0


def _exit_with(parent: int) -> Callable[[web.Application], AsyncIterator[None]]:
    """A sandbox started by ``serve --demo`` stops once that process is gone (reparented)."""

    async def watch() -> None:
        # Polled: no event tells a process that its parent is gone.
        while True:
            await asyncio.sleep(1.0)
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGTERM)  # run_app's own graceful stop
                return

    async def context(app: web.Application) -> AsyncIterator[None]:
        watcher = asyncio.create_task(watch(), name="parent-watch")
        yield
        watcher.cancel()

    return context


def cmd_sandbox(args: argparse.Namespace) -> int:
    from omnirelay.sandbox.app import build_sandbox_app

    # The key itself stays out of the log (logs are scanned for secrets): its start suffices.
    print(f"omnirelay sandbox on http://{args.host}:{args.port} (key {args.key[:6]}…)", flush=True)
    app = build_sandbox_app(
        args.key,
        kling_keys=(args.kling_access_key, args.kling_secret_key),
        task_seconds=args.task_seconds,
    )
    if args.exit_with_parent is not None:
        app.cleanup_ctx.append(_exit_with(args.exit_with_parent))
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
        loop=new_loop(),
        # A simulator: its idle streams and hung answers (fault markers) need no grace.
        shutdown_timeout=1,
    )
    return 0


def _names(text: str | None) -> list[str] | None:
    return [m.strip() for m in text.split(",") if m.strip()] if text is not None else None


async def _user_id(db: Any, user: str | None) -> int | None:
    """A user given by id or by name."""
    if user is None:
        return None
    async with db.engine.connect() as conn:
        column = users_table.c.id if user.isdigit() else users_table.c.name
        found = await conn.scalar(
            select(users_table.c.id).where(column == (int(user) if user.isdigit() else user))
        )
    if found is None:
        raise SystemExit(f"error: no user '{user}'")
    return int(found)


async def _keys_create(settings: Settings, args: argparse.Namespace) -> str:
    await bootstrap(settings, with_demo_channels=False, ensure_admin=False)
    db = await open_database(settings.resolved_database_url, migrate=False)
    try:
        expires = (
            datetime.now(UTC) + timedelta(days=args.expires_days) if args.expires_days else None
        )
        spec = keyring.KeyCreate(
            name=args.name,
            user_id=await _user_id(db, args.user),
            quota_usd=args.quota,
            models=_names(args.models),
            expires_at=expires,
            allowed_ips=_names(args.allowed_ips),
            is_admin=args.admin,
        )
        created = await keyring.create(
            db, spec, load_secret_box(settings.secret_key, settings.data_dir)
        )
        # The key alone on stdout (scripts read it); its webhook secret beside, on stderr.
        print(f"webhook signing secret (shown once): {created.webhook_secret}", file=sys.stderr)
        return created.key
    finally:
        await db.close()


async def _keys_list(settings: Settings) -> None:
    db = await open_database(settings.resolved_database_url)
    try:
        found, _ = await keyring.list_keys(db, keyring.KeyQuery())
    finally:
        await db.close()
    for key in found:
        quota = (
            "none"
            if key.quota_remaining_micro_usd is None
            else "$" + micro_to_usd(key.quota_remaining_micro_usd)
        )
        owner = "admin" if key.is_admin else f"user {key.user_id}"
        print(
            f"{key.id:>4}  {key.prefix}…  {key.name:<20} {owner:<10} own quota {quota:<14} "
            f"spent ${micro_to_usd(key.spent_micro_usd)}  {'' if key.enabled else 'disabled'}"
        )


async def _users_command(settings: Settings, args: argparse.Namespace) -> None:
    await bootstrap(settings, with_demo_channels=False, ensure_admin=False)
    db = await open_database(settings.resolved_database_url, migrate=False)
    try:
        if args.users_command == "create":
            balance = None if args.unlimited else args.balance
            spec = users.UserCreate(name=args.name, group=args.group, balance_usd=balance)
            user = await users.create_user(db, spec, actor="command line")
            print(f"user {user.id} ({user.name}) created")
        elif args.users_command == "topup":
            user_id = await _user_id(db, args.user)
            assert user_id is not None
            change = balances.TopUp(amount_usd=args.amount, note=args.note)
            entry = await balances.top_up(db, user_id, change, actor="command line")
            after = entry.balance_after_micro_usd or 0
            print(f"user {user_id}: balance ${micro_to_usd(after)}")
        else:
            found, _ = await users.list_users(db, users.UserQuery(limit=1000))
            for user in found:
                left = user.balance_micro_usd
                balance = "unlimited" if left is None else "$" + micro_to_usd(left)
                print(
                    f"{user.id:>4}  {user.name:<20} {user.group:<12} balance {balance:<14} "
                    f"spent ${micro_to_usd(user.spent_micro_usd)}  {user.keys} key(s)"
                    f"{'' if user.enabled else '  disabled'}"
                )
    finally:
        await db.close()


async def _channels_add(settings: Settings, args: argparse.Namespace) -> None:
    await bootstrap(settings, with_demo_channels=False, ensure_admin=False)
    db = await open_database(settings.resolved_database_url, migrate=False)
    try:
        spec = ChannelSpec(
            name=args.name,
            vendor=args.vendor,
            base_url=args.base_url,
            secret=args.api_key,
            models=tuple(m.strip() for m in (args.models or "").split(",") if m.strip()),
            priority=args.priority,
            weight=args.weight,
        )
        await upsert_channels(db, load_secret_box(settings.secret_key, settings.data_dir), [spec])
    finally:
        await db.close()


async def _channels_list(settings: Settings) -> None:
    db = await open_database(settings.resolved_database_url)
    try:
        async with db.engine.connect() as conn:
            rows = (await conn.execute(select(channels).order_by(channels.c.id))).all()
    finally:
        await db.close()
    for row in rows:
        served = ",".join(row.models) or "(all of the vendor's models)"
        print(
            f"{row.id:>4}  {row.name:<20} {row.vendor:<10} {row.base_url:<40} p{row.priority} "
            f"w{row.weight} {'enabled' if row.enabled else 'disabled'}  {served}"
        )


def _refused(error: GatewayError) -> int:
    print(f"error: {error.message}", file=sys.stderr)
    return 2


def _warn_on_the_other_database(settings: Settings) -> None:
    """Warn when a command is about to create a database beside the other one in use.

    ``serve --demo`` keeps ``demo.db`` and every other command defaults to ``omnirelay.db``: a
    key made without ``--demo`` for a running demo would land in a new, unserved database.
    """
    if settings.database_url:
        return
    names = ("demo.db", "omnirelay.db") if settings.demo else ("omnirelay.db", "demo.db")
    target, other = (settings.data_dir / name for name in names)
    if target.exists() or not other.exists():
        return
    hint = "add --demo to use it" if not settings.demo else "drop --demo to use it"
    print(
        f"note: {target} does not exist and will be created; {other} does ({hint})",
        file=sys.stderr,
    )


def cmd_keys(args: argparse.Namespace) -> int:
    settings = load_settings(config_file=args.config, demo=True if args.demo else None)
    _warn_on_the_other_database(settings)
    try:
        if args.keys_command == "create":
            print(asyncio.run(_keys_create(settings, args)))
        else:
            asyncio.run(_keys_list(settings))
    except GatewayError as error:
        return _refused(error)
    return 0


def cmd_users(args: argparse.Namespace) -> int:
    settings = load_settings(config_file=args.config, demo=True if args.demo else None)
    _warn_on_the_other_database(settings)
    try:
        asyncio.run(_users_command(settings, args))
    except GatewayError as error:
        return _refused(error)
    return 0


def cmd_channels(args: argparse.Namespace) -> int:
    settings = load_settings(config_file=args.config, demo=True if args.demo else None)
    _warn_on_the_other_database(settings)
    if args.channels_command == "add":
        asyncio.run(_channels_add(settings, args))
        print(f"channel {args.name} saved")
    else:
        asyncio.run(_channels_list(settings))
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    from omnirelay.tasks import console

    settings = load_settings(config_file=args.config, demo=True if args.demo else None)
    _warn_on_the_other_database(settings)
    url = settings.resolved_database_url
    if args.tasks_command == "watch":
        return asyncio.run(console.watch(url, args.task_id, sys.stdout, args.interval))
    asyncio.run(console.list_tasks(url, sys.stdout, args.limit))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="omnirelay", description="A self-hosted AI model gateway."
    )
    parser.add_argument("--version", action="version", version=f"omnirelay {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "demo"):
        serve = sub.add_parser(
            name, help="run the gateway" + (" with the sandbox vendors" if name == "demo" else "")
        )
        serve.add_argument("--host", default=None)
        serve.add_argument("--port", type=int, default=None, help=f"default {DEFAULT_PORT}")
        serve.add_argument("--workers", type=int, default=None)
        serve.add_argument(
            "--demo",
            action="store_true",
            default=name == "demo",
            help="also start the sandbox vendors and route every model to them",
        )
        serve.add_argument(
            "--sandbox-port", type=int, default=None, help=f"default {DEFAULT_SANDBOX_PORT}"
        )
        serve.add_argument(
            "--sandbox-running",
            action="store_true",
            help="with --demo: a sandbox already runs on --sandbox-port (shared by several "
            "gateways); do not start one",
        )
        serve.add_argument("--config", type=Path, default=None, help="a TOML file")
        serve.set_defaults(func=cmd_serve)
    sandbox = sub.add_parser("sandbox", help="run the vendor simulator alone")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=DEFAULT_SANDBOX_PORT)
    sandbox.add_argument(
        "--key", default=os.environ.get("OMNIRELAY_SANDBOX_KEY", "sk-sandbox-demo")
    )
    defaults = Settings()
    sandbox.add_argument(
        "--kling-access-key",
        default=os.environ.get(
            "OMNIRELAY_SANDBOX_KLING_ACCESS_KEY", defaults.sandbox_kling_access_key
        ),
    )
    sandbox.add_argument(
        "--kling-secret-key",
        default=os.environ.get(
            "OMNIRELAY_SANDBOX_KLING_SECRET_KEY", defaults.sandbox_kling_secret_key
        ),
    )
    sandbox.add_argument(
        "--task-seconds",
        type=float,
        default=float(os.environ.get("OMNIRELAY_SANDBOX_TASK_SECONDS", "1.0")),
        help="one step of a sandbox task's clock (submitted → processing → done)",
    )
    sandbox.add_argument(
        "--exit-with-parent",
        type=int,
        default=None,
        metavar="PID",
        help="stop when process PID (the gateway that started it) is gone",
    )
    sandbox.set_defaults(func=cmd_sandbox)

    # Options every database command takes, accepted after the sub-command.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=None, help="a TOML file")
    common.add_argument("--demo", action="store_true", help="the demo database (data/demo.db)")

    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser(
        "create", parents=[common], help="create a key and print it (shown once)"
    )
    create.add_argument("--name", required=True)
    create.add_argument(
        "--user", default=None, help="the user (id or name); default: a new user of its own"
    )
    create.add_argument(
        "--quota", type=float, default=None, help="the key's own cap in US dollars; default none"
    )
    create.add_argument("--models", default=None, help="comma-separated allow-list")
    create.add_argument("--allowed-ips", default=None, help="comma-separated CIDR blocks")
    create.add_argument("--expires-days", type=float, default=None)
    create.add_argument("--admin", action="store_true")
    keys_sub.add_parser("list", parents=[common], help="list keys")
    keys.set_defaults(func=cmd_keys)

    people = sub.add_parser("users", help="manage users (who own balances and keys)")
    people_sub = people.add_subparsers(dest="users_command", required=True)
    new_user = people_sub.add_parser("create", parents=[common], help="create a user")
    new_user.add_argument("--name", required=True)
    new_user.add_argument("--group", default="default")
    new_user.add_argument("--balance", type=float, default=0.0, help="US dollars")
    new_user.add_argument("--unlimited", action="store_true", help="no balance at all")
    topup = people_sub.add_parser("topup", parents=[common], help="add to a user's balance")
    topup.add_argument("--user", required=True, help="id or name")
    topup.add_argument("--amount", type=float, required=True, help="US dollars")
    topup.add_argument("--note", default=None)
    people_sub.add_parser("list", parents=[common], help="list users")
    people.set_defaults(func=cmd_users)

    chans = sub.add_parser("channels", help="manage upstream channels")
    chans_sub = chans.add_subparsers(dest="channels_command", required=True)
    add = chans_sub.add_parser("add", parents=[common], help="add or update a channel")
    add.add_argument("--name", required=True)
    add.add_argument("--vendor", default="openai")
    add.add_argument("--base-url", required=True)
    add.add_argument("--api-key", required=True)
    add.add_argument("--models", default=None, help="comma-separated; default all of the vendor's")
    add.add_argument("--priority", type=int, default=0)
    add.add_argument("--weight", type=int, default=1)
    chans_sub.add_parser("list", parents=[common], help="list channels")
    chans.set_defaults(func=cmd_channels)

    tasks = sub.add_parser("tasks", help="follow asynchronous tasks (video, image…)")
    tasks_sub = tasks.add_subparsers(dest="tasks_command", required=True)
    watch = tasks_sub.add_parser(
        "watch", parents=[common], help="a live progress bar until the task ends"
    )
    watch.add_argument("task_id")
    watch.add_argument("--interval", type=float, default=0.5, help="seconds between refreshes")
    recent = tasks_sub.add_parser("list", parents=[common], help="the most recent tasks")
    recent.add_argument("--limit", type=int, default=20)
    tasks.set_defaults(func=cmd_tasks)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))
