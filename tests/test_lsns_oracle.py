"""nsaudit snapshot against lsns(8), both ways, on every column both tools have.

Churn on a busy host: lsns is run before and after nsaudit. A namespace lsns lists in both runs
with the same PID, PPID, USER and COMMAND existed throughout (the kernel reuses a freed
namespace's inode, so the key alone does not say that), and nsaudit must have it. A namespace
nsaudit saw through a process must be in one of lsns's runs unless it was born and died between
them (its process no longer has it after the second run). When anything disagrees, the three
scans are taken once more. Every column is compared exactly on the namespaces this test makes
(no one else joins them); on the host's other namespaces PID, PPID, USER and COMMAND are
compared where lsns saw the same namespace before and after, and NPROCS is not (any process
born or gone anywhere moves the host's counts between the runs).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conftest import REPO, lsns, needs_root, run
from nsmakers import (
    fd_held_netns,
    in_new,
    kill_tree,
    nested_user_and_pid,
    netns,
    ns_of,
    runs,
    wait_for,
)

pytestmark = needs_root

Key = tuple[str, int]
LSNS = ["lsns", "--json", "--list", "--output", "NS,TYPE,NPROCS,PID,PPID,USER,COMMAND,NETNSID"]
# Columns lsns and nsaudit both have: lsns's name -> nsaudit's JSON field. lsns's NETNSID is
# the id this netns has in the scanner's netns (rtnetlink, "unassigned" mostly); nsaudit has no
# such column (its ns_id is NS_GET_ID, another number), so it is not compared.
SHARED = {"nprocs": "nprocs", "pid": "pid", "ppid": "ppid", "user": "user", "command": "cmdline"}
STEADY = ("pid", "ppid", "user", "command")
CMDLINE_MAX = 4096  # README `nsaudit snapshot`: the command line, at most 4096 bytes

# The representative forks a second member, then says so: the namespace has two processes.
PAIR = "import os, time\nif os.fork():\n    print('ready', flush=True)\ntime.sleep(300)\n"
ODD_ARGS: list[str | bytes] = ["tab\there", "é", b"bad\xff\xfe", "x" * 5000]


def lsns_scan() -> dict[Key, dict[str, Any]]:
    # lsns writes a command line's bytes as they are: not-UTF-8 bytes become surrogates, as
    # nsaudit's JSON has them.
    out = lsns(*LSNS[1:])
    rows = json.loads(out.decode("utf-8", "surrogateescape"))["namespaces"]
    return {(n["type"], int(n["ns"])): n for n in rows}


def nsaudit_scan() -> dict[Key, dict[str, Any]]:
    proc = run("snapshot", "--no-store", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return {(n["type"], n["inode"]): n for n in json.loads(proc.stdout)["namespaces"]}


def command_matches(ours: dict[str, Any], theirs: str | None) -> bool:
    """lsns's COMMAND is the whole command line, or the comm of a kernel thread (no cmdline)."""
    cmdline = ours["cmdline"]
    if cmdline is None:
        return False
    if not cmdline:
        return bool(theirs == ours["command"])
    if len(cmdline.encode("utf-8", "surrogateescape")) > CMDLINE_MAX:
        # nsaudit cuts at 4096 bytes and marks the cut with "..."; lsns prints it all.
        head = cmdline.removesuffix("...")
        assert len(head.encode("utf-8", "surrogateescape")) == CMDLINE_MAX, cmdline[-20:]
        return theirs is not None and theirs.startswith(head) and len(theirs) > len(head)
    return bool(theirs == cmdline)


def disagreements(
    ours: dict[str, Any], theirs: dict[str, Any], columns: tuple[str, ...]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for col in columns:
        if col == "command":
            if not command_matches(ours, theirs["command"]):
                out[col] = ((ours["cmdline"] or "")[:80], (theirs["command"] or "")[:80])
        elif col == "user":
            if ours["user"] != theirs["user"]:
                out[col] = (ours["user"], theirs["user"])
        elif ours[SHARED[col]] != (None if theirs[col] is None else int(theirs[col])):
            out[col] = (ours[SHARED[col]], theirs[col])
    return out


def still_in(pid: int, key: Key) -> bool:
    try:
        return ns_of(pid, key[0])[1] == key[1]
    except OSError:
        return False


def compare(made: set[Key]) -> list[str]:
    """Both directions, one round of lsns / nsaudit / lsns; the list of what disagrees."""
    before, ours, after = lsns_scan(), nsaudit_scan(), lsns_scan()

    def steady(key: Key) -> bool:
        # The kernel reuses a freed namespace's inode: the same key in both lsns runs is the
        # same namespace only if its representative (and the rest) did not change either.
        b, a = before.get(key), after.get(key)
        return b is not None and a is not None and all(b[c] == a[c] for c in STEADY)

    wrong = []
    for key in before.keys() & after.keys():
        if steady(key) and key not in ours:
            wrong.append(f"{key}: lsns lists it before and after, nsaudit does not")
    for key, ns in ours.items():
        if ns["nprocs"] == 0:
            continue  # found through a holder only: test_holder_only_namespaces_...
        seen = before.get(key) or after.get(key)
        if seen is None:
            # Born and gone between the lsns runs, unless its process still has it: then it
            # had it during the second lsns run too.
            if still_in(ns["pid"], key):
                wrong.append(f"{key}: nsaudit found it through pid {ns['pid']}, lsns did not")
            continue
        if key in made:
            cols: tuple[str, ...] = tuple(SHARED)
            assert before.get(key) == after.get(key), f"{key} changed under the test"
        else:
            cols = STEADY if steady(key) else ()
        if bad := disagreements(ns, seen, cols):
            wrong.append(f"{key}: (nsaudit, lsns) {bad}")
    return wrong


@contextmanager
def two_member_namespaces(*flags: str, argv: list[str | bytes]) -> Iterator[int]:
    """A process in new namespaces with a forked second member; its pid once both exist."""
    proc = subprocess.Popen(["unshare", *flags, *argv], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        yield proc.pid
    finally:
        kill_tree(proc)


@contextmanager
def unprivileged_user_namespace() -> Iterator[int]:
    """sleep as nobody in a user and uts namespace it made itself (USER is not root)."""
    cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    proc = subprocess.Popen([*cmd, "unshare", "--user", "--uts", "sleep", "300"])
    try:
        wait_for(lambda: runs(proc.pid, "sleep") and in_new(proc.pid, ("user", "uts")))
        yield proc.pid
    finally:
        kill_tree(proc)


def test_every_namespace_agrees_with_lsns_both_ways_on_every_shared_column() -> None:
    odd = [sys.executable, "-c", PAIR, *ODD_ARGS]
    with (
        two_member_namespaces("--net", "--uts", "--ipc", "--mount", argv=odd) as pair,
        unprivileged_user_namespace() as nobody,
    ):
        made = {(t, ns_of(pair, t)[1]) for t in ("net", "uts", "ipc", "mnt")}
        made |= {(t, ns_of(nobody, t)[1]) for t in ("user", "uts")}
        wrong = compare(made)
        if wrong:  # a namespace born and gone between the lsns runs: once more
            time.sleep(0.5)
            wrong = compare(made)
        assert not wrong, "\n".join(wrong)
        # What the made namespaces are, so that the comparison above is about something.
        ours = nsaudit_scan()
        for t in ("net", "uts", "ipc", "mnt"):
            ns = ours[(t, ns_of(pair, t)[1])]
            assert (ns["nprocs"], ns["pid"], ns["ppid"]) == (2, pair, os.getpid())
            assert (
                ns["cmdline"].endswith("...") and "tab\there é bad\udcff\udcfe x" in ns["cmdline"]
            )
        user = ours[("user", ns_of(nobody, "user")[1])]
        assert (user["user"], user["uid"], user["owner_uid"]) == ("nobody", 65534, 65534)


def test_holder_only_namespaces_are_what_lsns_lacks_and_their_holders_explain_them() -> None:
    with netns() as name, fd_held_netns() as (holder, fd, dev, ino):
        path = f"/run/netns/{name}"
        mounted = ("net", os.stat(path).st_ino)
        before, ours, after = lsns_scan(), nsaudit_scan(), lsns_scan()
        for key in (mounted, ("net", ino)):
            # lsns 2.38 lists namespaces through processes only; a newer one lists these with
            # no process, which is what nsaudit says too.
            for theirs in (before.get(key), after.get(key)):
                assert theirs is None or int(theirs["nprocs"]) == 0, theirs
            assert ours[key]["nprocs"] == 0 and ours[key]["pid"] is None
        mount = {"kind": "mount", "pid": None, "fd": None, "path": path, "container": None}
        assert mount in ours[mounted]["holders"]
        assert ours[("net", ino)]["holders"] == [
            {"kind": "fd", "pid": holder, "fd": fd, "path": None, "container": None}
        ]
        assert os.stat(f"/proc/{holder}/fd/{fd}").st_ino == ino
        # Every namespace nsaudit has and lsns has not (on this busy host too) has no process
        # and is held by something nsaudit names.
        for key, ns in ours.items():
            if key in before or key in after or ns["nprocs"] > 0:
                continue
            assert ns["pid"] is None and ns["holders"], (key, ns)
            assert {h["kind"] for h in ns["holders"]} <= {"mount", "fd", "for_children"}, ns


SCANNER_FIRST = 'sleep 300 >/dev/null 2>&1 & echo $!; exec "$@"'


def scan_from_inside(*argv: str) -> tuple[int, int, str]:
    """Run ARGV as the oldest (lowest-pid) of two members of a new uts namespace.

    Returns (scanner pid, the other member's pid, the scanner's stdout).
    """
    for _ in range(4):  # lsns's hiccup under churn: see lsns_scan()
        scanner, sleeper, code, out, err = _scan_from_inside(*argv)
        if code == 0 or argv[0] != "lsns":
            break
    assert code == 0, err
    return scanner, sleeper, out


def _scan_from_inside(*argv: str) -> tuple[int, int, int, str, str]:
    proc = subprocess.Popen(
        ["unshare", "--uts", "sh", "-c", SCANNER_FIRST, "sh", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="surrogateescape",
        cwd=REPO,
    )
    out, err = proc.communicate(timeout=120)
    first, rest = out.split("\n", 1)
    sleeper = int(first)
    os.kill(sleeper, 9)
    return proc.pid, sleeper, proc.returncode, rest, err


def test_the_scanner_is_never_the_representative_unlike_lsns() -> None:
    # README `nsaudit snapshot`: nsaudit counts itself as a member but never represents a
    # namespace by its own process; lsns shows the lowest pid, which may be its own.
    scanner, sleeper, out = scan_from_inside(
        sys.executable, "-m", "nsaudit", "snapshot", "--no-store", "--format", "json"
    )
    (ns,) = [
        n for n in json.loads(out)["namespaces"] if n["type"] == "uts" and n["ppid"] == scanner
    ]
    assert (ns["nprocs"], ns["pid"], ns["cmdline"]) == (2, sleeper, "sleep 300")
    scanner, sleeper, out = scan_from_inside(*LSNS)
    rows = json.loads(out.encode().decode("utf-8", "surrogateescape"))["namespaces"]
    (theirs,) = [n for n in rows if n["type"] == "uts" and int(n["pid"]) == scanner]
    assert int(theirs["nprocs"]) == 2 and theirs["command"] == " ".join(LSNS)
    assert scanner < sleeper


def test_no_store_prints_the_rows_lsns_prints(tmp_path: Path) -> None:
    # README: `--no-store` only prints the namespaces (like lsns), in the show formats.
    with two_member_namespaces("--uts", argv=[sys.executable, "-c", PAIR, "a b"]) as pid:
        ino = ns_of(pid, "uts")[1]
        (theirs,) = [n for k, n in lsns_scan().items() if k == ("uts", ino)]
        cmdline = f"{sys.executable} -c {PAIR.replace(chr(10), ' ')} a b"
        assert theirs["command"].replace("\n", " ") == cmdline
        want = [str(ino), "uts", "2", str(pid), str(os.getpid()), "root"]
        assert [str(theirs[c]) for c in ("ns", "type", "nprocs", "pid", "ppid", "user")] == want
        db = tmp_path / "never.db"
        out = {
            fmt: run("snapshot", "--no-store", "--db", db, "--format", fmt, "--wide").stdout
            for fmt in ("table", "markdown", "csv", "json")
        }
        assert not db.exists()
    (row,) = [ln for ln in out["table"].splitlines() if ln.startswith(f"{ino} ")]
    assert row.split()[:6] == want
    (header,) = [ln.split() for ln in out["table"].splitlines() if ln.startswith("NS ")]
    assert header[:7] == ["NS", "TYPE", "NPROCS", "PID", "PPID", "USER", "COMMAND"]
    (md,) = [ln for ln in out["markdown"].splitlines() if ln.startswith(f"| {ino} ")]
    cells = [c.strip() for c in md.strip("|").split("|")]
    assert cells[:6] == want
    rows = list(csv.DictReader(io.StringIO(out["csv"])))
    (c,) = [r for r in rows if r["inode"] == str(ino)]
    assert [c[k] for k in ("inode", "type", "nprocs", "pid", "ppid", "user")] == want
    assert c["command"] == "python" or c["command"].startswith("python")
    (j,) = [n for n in json.loads(out["json"])["namespaces"] if n["inode"] == ino]
    assert [str(j[k]) for k in ("inode", "type", "nprocs", "pid", "ppid", "user")] == want
    assert j["cmdline"].replace("\n", " ") == cmdline


TREE_LINE = re.compile(r"^([│├└─ ]*)(\d+)\s")


def tree_parents(text: str) -> dict[int, tuple[int, int | None]]:
    """inode -> (depth, parent inode) as the tree's indentation draws them."""
    out: dict[int, tuple[int, int | None]] = {}
    stack: list[tuple[int, int]] = []
    for line in text.splitlines():
        m = TREE_LINE.match(line)
        if not m:
            continue
        depth, ino = len(m[1]) // 2, int(m[2])
        while stack and stack[-1][0] >= depth:
            stack.pop()
        out[ino] = (depth, stack[-1][1] if stack else None)
        stack.append((depth, ino))
    return out


def test_owner_and_process_trees_put_each_namespace_under_the_right_one(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with nested_user_and_pid() as ns:
        assert run("snapshot", "--db", db).returncode == 0
        lsns_owner = lsns("--tree=owner", "-o", "NS,TYPE").decode("utf-8", "surrogateescape")
    owner = tree_parents(run("show", "--db", db, "--tree", "owner", "--wide").stdout)
    # The owning user namespace is the parent in the drawing.
    assert owner[ns["user1"]][1] == ns["host_user"]
    assert owner[ns["pid1"]][1] == ns["user1"] and owner[ns["user2"]][1] == ns["user1"]
    assert owner[ns["pid2"]][1] == ns["user2"]
    assert owner[ns["pid2"]][0] == owner[ns["user2"]][0] + 1 == owner[ns["user1"]][0] + 2
    theirs = tree_parents(lsns_owner)
    for key in ("user1", "pid1", "user2", "pid2"):
        assert owner[ns[key]] == theirs[ns[key]], key
    # --tree process (README): under the namespace of the same type that holds the parent
    # process of the representative: pid2's sleep is a child of pid1's unshare.
    process = tree_parents(run("show", "--db", db, "--tree", "process", "--wide").stdout)
    assert process[ns["pid2"]][1] == ns["pid1"] and process[ns["user2"]][1] == ns["user1"]
    assert process[ns["pid2"]][0] == process[ns["pid1"]][0] + 1
    assert process[ns["user2"]][0] == process[ns["user1"]][0] + 1
    js = json.loads(run("show", "--db", db, "--tree", "process", "--format", "json").stdout)
    by_ino = {n["inode"]: n for n in js["namespaces"]}
    assert by_ino[ns["pid2"]]["ppid"] == by_ino[ns["pid1"]]["pid"]
