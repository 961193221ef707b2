"""The command line as a user meets it: formats, colour, pipes, help, untrusted text."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import KCONFIGS, REPO, ROOTS, run

from nsaudit import __version__

SAMPLE = ROOTS / "debian10-no-timens"


def test_python_dash_m_and_version() -> None:
    proc = run("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"nsaudit, version {__version__}"


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "nsaudit"
    proc = subprocess.run(
        [script, "detect", "--root", SAMPLE, "--format", "json"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["schema"] == "nsaudit.detect/1"


def test_help_lists_detect_and_exit_codes() -> None:
    proc = run("--help")
    assert proc.returncode == 0
    assert "detect" in proc.stdout and "130 interrupted" in proc.stdout


def test_table_is_the_default_format() -> None:
    proc = run("detect", "--root", SAMPLE)
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert lines[0] == f"Kernel: 4.19.0-20-amd64 (from {SAMPLE}/proc/sys/kernel/osrelease)"
    header = next(line for line in lines if line.startswith("TYPE"))
    assert header.split()[:3] == ["TYPE", "STATUS", "CONFIG"]
    time_row = next(line for line in lines if line.startswith("time "))
    assert time_row.split()[1] == "missing"


def test_markdown_format() -> None:
    proc = run("detect", "--root", SAMPLE, "--format", "markdown")
    assert proc.returncode == 0
    assert proc.stdout.startswith("# nsaudit detect")
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| time")]
    assert len(rows) == 1 and "| missing" in rows[0]
    assert "## User namespace restrictions" in proc.stdout


def test_csv_format_is_one_row_per_type() -> None:
    proc = run("detect", "--root", SAMPLE, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [r["type"] for r in rows] == [
        "cgroup",
        "ipc",
        "mnt",
        "net",
        "pid",
        "time",
        "user",
        "uts",
    ]
    time = rows[5]
    assert (time["status"], time["config_option"], time["config_value"]) == (
        "missing",
        "CONFIG_TIME_NS",
        "absent",
    )
    assert time["for_children"] == "no" and rows[0]["for_children"] == ""


def test_csv_with_probe_has_a_column_per_user() -> None:
    proc = run("detect", "--format", "csv", "--probe")
    header = next(csv.reader(io.StringIO(proc.stdout)))
    user = header[-3].removeprefix("usable_as_")
    assert header[-3:] == [f"usable_as_{user}", f"usable_via_{user}", f"errno_as_{user}"]


def test_color_follows_flag_then_no_color_then_tty() -> None:
    green = "\x1b[32m"
    assert green in run("detect", "--root", SAMPLE, "--color").stdout
    assert green in run("detect", "--root", SAMPLE, "--color", env={"NO_COLOR": "1"}).stdout
    assert "\x1b[" not in run("detect", "--root", SAMPLE, "--no-color").stdout
    # Not a terminal (a pipe), no flag: no colour.
    assert "\x1b[" not in run("detect", "--root", SAMPLE).stdout


def test_no_color_wins_over_a_terminal() -> None:
    import pty

    def on_tty(env: dict[str, str]) -> str:
        main, child = pty.openpty()
        cmd = [sys.executable, "-m", "nsaudit", "detect", "--root", str(SAMPLE)]
        full_env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | env
        proc = subprocess.run(cmd, stdout=child, stderr=subprocess.PIPE, env=full_env, cwd=REPO)
        os.close(child)
        chunks = []
        while True:
            try:
                data = os.read(main, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        os.close(main)
        assert proc.returncode == 0
        return b"".join(chunks).decode()

    assert "\x1b[32m" in on_tty({})
    assert "\x1b[" not in on_tty({"NO_COLOR": "1"})


def test_closed_pipe_exits_quietly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nsaudit", "detect", "--root", str(SAMPLE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before nsaudit writes
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert stderr == ""


def test_pipe_into_head_prints_the_first_line() -> None:
    proc = subprocess.run(
        f"{sys.executable} -m nsaudit detect --root {SAMPLE} | head -1",
        shell=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout.startswith("Kernel: ")
    assert proc.stderr == ""


def hostile_tree(tmp_path: Path) -> tuple[Path, Path]:
    """A --root and a --kconfig whose names and header hold what an attacker would put there."""
    name = "=cmd|x\x1b[31mred\nnext<script>alert(1)\u202e"
    root = tmp_path / f"root{name}"
    (root / "proc" / "sys" / "kernel").mkdir(parents=True)
    (root / "proc" / "sys" / "kernel" / "osrelease").write_bytes(b"6.1\x1b]0;pwned\x07\xff\n")
    config = tmp_path / f"=config{name}"
    body = (KCONFIGS / "Arch_x86_64.config").read_bytes().split(b"\n", 4)[4]
    config.write_bytes(b"#\n# Linux/x86 6.1\x1b[2J<b>evil</b> Kernel Configuration\n#\n" + body)
    return root, config


def test_untrusted_text_is_escaped_in_every_format(tmp_path: Path) -> None:
    root, config = hostile_tree(tmp_path)
    for fmt in ("table", "markdown", "csv", "json"):
        proc = run("detect", "--root", root, "--kconfig", config, "--format", fmt, "--color")
        assert proc.returncode == 0, proc.stderr
        out = proc.stdout.replace("\x1b[0m", "").replace("\x1b[1m", "")
        for code in ("32m", "33m", "31m", "2m"):
            out = out.replace(f"\x1b[{code}", "") if fmt == "table" else out
        assert "\x1b" not in out, fmt
        assert "\x07" not in out and "\u202e" not in out, fmt
        assert "\udcff" not in out and "\xff" not in out, fmt
        if fmt == "markdown":
            assert "<script>" not in out and "<b>" not in out
            assert "\\<script\\>" in out
        if fmt == "csv":
            for row in csv.reader(io.StringIO(out)):
                assert not any(cell.startswith(("=", "@")) for cell in row), row
        if fmt == "table":
            assert "\\x1b[31mred\\nnext" in out
        if fmt == "json":
            assert json.loads(out)["kconfig"]["release"] == "6.1\x1b[2J<b>evil</b>"


def test_interrupt_exits_130_without_traceback(tmp_path: Path) -> None:
    import signal
    import time

    fifo = tmp_path / "config"
    os.mkfifo(fifo)
    # A writer that never writes: nsaudit waits in read() until interrupted (without a writer
    # it would read EOF at once: it opens a FIFO without waiting for a partner).
    writer = os.open(fifo, os.O_RDWR)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nsaudit", "detect", "--kconfig", str(fifo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        # A shell's background job ignores SIGINT, and Python then keeps it ignored: restore it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 30
    while not Path(f"/proc/{proc.pid}/wchan").read_text().endswith("pipe_read"):
        assert time.monotonic() < deadline, "nsaudit never reached the fifo"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    os.close(writer)
    assert proc.returncode == 130
    # click starts a new line after the terminal's ^C; the message is the one line after it.
    assert stderr.strip() == "nsaudit: error: interrupted"
    assert stdout == ""
