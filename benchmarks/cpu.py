"""Prints the CPU time (user + system, in seconds) used so far by every live process of a
process group. Standard library only.

    python3 cpu.py PGID
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path


def group_processes(pgid: int) -> Iterator[tuple[str, list[str]]]:
    """(pid, the fields of /proc/PID/stat after the command name) of each live process of the
    group: state(0) ppid(1) pgrp(2) ... utime(11) stime(12)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            yield entry, fields


def group_cpu_seconds(pgid: int) -> float:
    ticks = sum(int(fields[11]) + int(fields[12]) for _, fields in group_processes(pgid))
    return ticks / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    print(f"{group_cpu_seconds(int(sys.argv[1])):.2f}")
