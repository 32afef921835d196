"""Summarises py-spy's collapsed stacks (``--format raw``): the functions holding the most samples,
inclusive and self, with the line numbers dropped so one function is one row.

    python stacks.py worker-1.txt [worker-2.txt ...]
"""

from __future__ import annotations

import re
import sys
from collections import Counter

_LINE = re.compile(r":\d+\)$")


def main() -> None:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for path in sys.argv[1:]:
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
    print(f"{total} samples")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"\n-- top {title} --")
        for frame, n in counter.most_common(45):
            print(f"{100 * n / total:5.1f}%  {frame[:150]}")


if __name__ == "__main__":
    main()
