"""A /proc tree built under a --root directory, where the files say what each process is:
the collector reads it as it reads the kernel's."""

from __future__ import annotations

from pathlib import Path


def stat_line(pid: int, comm: str, ppid: int, start: int, flags: int = 0x400100) -> str:
    """A /proc/PID/stat line as the kernel writes it (52 fields): state S."""
    fields = ["0"] * 50  # those after the command
    fields[0], fields[1], fields[2] = "S", str(ppid), str(pid)
    fields[6], fields[19] = str(flags), str(start)  # fields 9 and 22 of the line
    return f"{pid} ({comm}) " + " ".join(fields) + "\n"


def process(
    root: Path,
    pid: int,
    links: dict[str, str],
    comm: str = "sleep",
    ppid: int = 1,
    cmdline: bytes = b"sleep\x00300\x00",
    fds: dict[str, str] | None = None,
) -> Path:
    """A process directory under root/proc: ns links (name -> target), stat, cmdline, fds."""
    base = root / "proc" / str(pid)
    (base / "ns").mkdir(parents=True)
    for name, target in links.items():
        (base / "ns" / name).symlink_to(target)
    (base / "stat").write_text(stat_line(pid, comm, ppid, 100 + pid))
    (base / "cmdline").write_bytes(cmdline)
    if fds is not None:
        (base / "fd").mkdir()
        for fd, target in fds.items():
            (base / "fd" / fd).symlink_to(target)
    return base
