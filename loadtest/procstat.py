"""CPU time and peak memory of a process (and its children) from Linux ``/proc``.

Parsers take the file text (tested on fixed samples); the readers return None when the
process is gone or ``/proc`` is missing (not Linux), so callers print "n/a".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")


def parse_stat(text: str) -> tuple[int, float]:
    """(parent pid, user + system CPU seconds) from ``/proc/<pid>/stat``.

    The command name (field 2) may contain spaces and parentheses, so fields are
    counted from the last ``)``."""
    fields = text.rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    # after the name: state ppid … utime is field 14 of the whole line, index 11 here
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks


def parse_status_kib(text: str, key: str) -> int | None:
    """A ``kB`` value such as ``VmHWM`` from ``/proc/<pid>/status``, in KiB."""
    for line in text.splitlines():
        if line.startswith(key + ":"):
            parts = line.split()
            return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def cpu_seconds(pid: int) -> float | None:
    text = _read(_PROC / str(pid) / "stat")
    return None if text is None else parse_stat(text)[1]


def peak_rss_mib(pid: int) -> float | None:
    text = _read(_PROC / str(pid) / "status")
    kib = None if text is None else parse_status_kib(text, "VmHWM")
    return None if kib is None else kib / 1024


def children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (otelctx's decode workers)."""
    out = []
    for stat in _PROC.glob("[0-9]*/stat"):
        text = _read(stat)
        if text is not None and parse_stat(text)[0] == pid:
            out.append(int(stat.parent.name))
    return sorted(out)


@dataclass(frozen=True, slots=True)
class Sample:
    """CPU seconds of a process and of its live children at one moment."""

    main: float
    children: dict[int, float]


def sample(pid: int) -> Sample | None:
    main = cpu_seconds(pid)
    if main is None:
        return None
    kids = {k: c for k in children(pid) if (c := cpu_seconds(k)) is not None}
    return Sample(main, kids)


def cores_between(before: Sample, after: Sample, seconds: float) -> tuple[float, float]:
    """Average cores used by the process and by its children between two samples
    (children that appeared in between count from 0)."""
    if seconds <= 0:
        return 0.0, 0.0
    main = (after.main - before.main) / seconds
    kids = sum(c - before.children.get(pid, 0.0) for pid, c in after.children.items())
    return main, kids / seconds


def parse_machine_busy(text: str) -> float:
    """Busy CPU seconds of the whole machine (all cores) from ``/proc/stat``'s ``cpu``
    line: everything but idle and iowait."""
    for line in text.splitlines():
        if line.startswith("cpu "):
            values = [int(v) for v in line.split()[1:]]
            # user nice system idle iowait irq softirq steal (guest time is in user)
            busy = sum(values[:8]) - values[3] - values[4]
            return busy / os.sysconf("SC_CLK_TCK")
    raise ValueError("no cpu line in /proc/stat")


def machine_busy_seconds() -> float | None:
    text = _read(_PROC / "stat")
    return None if text is None else parse_machine_busy(text)
