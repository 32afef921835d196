"""Samples the summed RSS of every process in a process group until told to stop; prints the
peak in MB. Standard library only.

    python3 rss.py PGID OUT_FILE   (stop it with SIGTERM; it writes the peak on exit)
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path


def group_rss_kb(pgid: int) -> int:
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            # Fields after the command name: state ppid pgrp ...
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            for line in Path(f"/proc/{entry}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total


def main() -> None:
    pgid, out = int(sys.argv[1]), Path(sys.argv[2])
    peak = 0
    running = True

    def stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    while running:
        peak = max(peak, group_rss_kb(pgid))
        time.sleep(0.25)
    out.write_text(f"{peak / 1024:.1f}\n")


if __name__ == "__main__":
    main()
