"""Prints the CPU time (user + system, in seconds) used so far by every live process of a
process group. Standard library only.

    python3 cpu.py PGID
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def group_cpu_seconds(pgid: int) -> float:
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command name: state(0) ppid(1) pgrp(2) ... utime(11) stime(12)
        if int(fields[2]) == pgid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    print(f"{group_cpu_seconds(int(sys.argv[1])):.2f}")
