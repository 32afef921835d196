"""Summarises py-spy's collapsed stacks (``--format raw``): the functions holding the most samples,
inclusive and self, with the line numbers dropped so one function is one row; and self time
grouped by module and by package ("where the time goes").

    python stacks.py [--json OUT.json] [--what TEXT] worker-1.txt [worker-2.txt ...]
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")
_FRAME = re.compile(r"^(?P<fn>.*) \((?P<path>[^()]*?)(?::\d+)?\)$")
_ROOTS = ("site-packages/", "dist-packages/", "/src/", "/lib/python3.", "/lib64/python3.")


def module_of(frame: str) -> str:
    """``relay (/x/src/omnirelay/relay.py:12)`` -> ``omnirelay.relay``; stdlib keeps its name."""
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = match["path"]
    if not path.startswith("/"):  # py-spy shortens what is under sys.path: pkg/mod.py
        return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    for root in _ROOTS:
        if root in path:
            tail = path.rsplit(root, 1)[1]
            if root.startswith("/lib"):
                tail = tail.split("/", 1)[1] if "/" in tail else tail
            return tail.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    return Path(path).stem or path


def summarise(paths: list[str]) -> tuple[int, Counter[str], Counter[str]]:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for path in paths:
        for line in open(path, encoding="utf-8"):
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            n = int(count)
            total += n
            frames = [_LINE.sub(")", f) for f in stack.split(";")]
            for frame in set(frames):
                inclusive[frame] += n
            own[frames[-1]] += n
    return total, inclusive, own


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--what", default="")
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args()
    total, inclusive, own = summarise(args.paths)
    modules: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    for frame, n in own.items():
        module = module_of(frame)
        modules[module] += n
        packages[module.split(".")[0]] += n
    print(f"{total} samples")
    pct = lambda n: round(100 * n / total, 1) if total else 0.0  # noqa: E731
    for title, counter in (
        ("inclusive", inclusive), ("self", own), ("self by module", modules),
        ("self by package", packages),
    ):
        print(f"\n-- top {title} --")
        for frame, n in counter.most_common(45):
            print(f"{pct(n):5.1f}%  {frame[:150]}")
    if args.json:
        summary = {
            "samples": total,
            "what": args.what,
            "packages": [[m, pct(n)] for m, n in packages.most_common(20)],
            "modules": [[m, pct(n)] for m, n in modules.most_common(30)],
            "functions": [[f[:120], pct(n)] for f, n in own.most_common(30)],
            "inclusive": [[f[:120], pct(n)] for f, n in inclusive.most_common(30)],
        }
        args.json.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
