"""Samples the summed RSS of every process in a process group until told to stop; writes the
peak in MB, and each process's RSS at that peak beside it (OUT_FILE.procs.json). Stdlib only.

    python3 rss.py PGID OUT_FILE   (stop it with SIGTERM; it writes the peak on exit)
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path


def group_rss_kb(pgid: int) -> int:
    return sum(process_rss_kb(pgid).values())


def process_rss_kb(pgid: int) -> dict[int, int]:
    """RSS (kB) of each live process of the group, by pid."""
    found: dict[int, int] = {}
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
                    found[int(entry)] = int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return found


def main() -> None:
    pgid, out = int(sys.argv[1]), Path(sys.argv[2])
    peak = 0
    peak_processes: dict[int, int] = {}
    running = True

    def stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    while running:
        processes = process_rss_kb(pgid)
        if sum(processes.values()) >= peak:
            peak, peak_processes = sum(processes.values()), processes
        time.sleep(0.25)
    out.write_text(f"{peak / 1024:.1f}\n")
    # Each process at the peak; a worker is any process but the group's leader (the master).
    rows = [
        {"pid": pid, "rss_mb": round(kb / 1024, 1), "worker": pid != pgid}
        for pid, kb in sorted(peak_processes.items())
    ]
    out.with_name(out.name + ".procs.json").write_text(json.dumps(rows) + "\n")


if __name__ == "__main__":
    main()
