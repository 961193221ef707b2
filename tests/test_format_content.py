"""What every output format of every command says: each format parsed with a parser of its own
(json, csv, a Markdown table reader, the terminal table by its columns, ElementTree for JUnit,
html.parser for HTML, Prometheus's own parser), compared with facts written down from the
situation the test made, untrusted text coming back intact through each parser."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from conftest import ROOTS, needs_root, run
from nsmakers import UNSHARE_FLAG

DEBIAN10 = ROOTS / "debian10-no-timens"
UBUNTU = ROOTS / "ubuntu2504-gzip-apparmor"
# Untrusted text that every format must carry intact: a formula start for a spreadsheet, the
# separators of CSV and Markdown tables, markup, Markdown emphasis, an entity, a backslash and
# a newline.
HOSTILE = '=cmd("x")|a,b <b>c</b> *d* &amp; \\e\nf'


# -- parsers: each format back to rows of text -------------------------------------------------

_TERMINAL_ESCAPE = re.compile(r"\\(n|r|t|\\|x[0-9a-f]{2}|u[0-9a-f]{4})")


def unterminal(text: str) -> str:
    """The inverse of nsaudit.render.escape.terminal, written from its contract: named
    escapes, \\xNN and \\uNNNN, and a doubled backslash."""

    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        named = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\"}
        if code in named:
            return named[code]
        return chr(int(code[1:], 16))

    return _TERMINAL_ESCAPE.sub(one, text)


@dataclass
class Grid:
    """One table of a document: its title (the heading above it), section and rows."""

    title: str | None
    section: str | None
    columns: list[str]
    rows: list[dict[str, str]] = field(default_factory=list)


def grid(grids: list[Grid], *columns: str, title: str | None = None) -> Grid:
    """The one table whose columns start with `columns` (and with that title, if given)."""
    found = [
        g
        for g in grids
        if tuple(g.columns[: len(columns)]) == columns
        and (title is None or (g.title or "").startswith(title))
    ]
    assert len(found) == 1, ([g.columns for g in grids], columns, title)
    return found[0]


_DASHES = re.compile(r"^-+(  -+)*$")


def parse_table(text: str) -> tuple[list[str], list[Grid]]:
    """The terminal table format (with --wide, cells whole): the lines above the first table,
    and each table cut into cells at the columns its dashed rule marks."""
    lines = text.split("\n")
    grids: list[Grid] = []
    lead: list[str] = []
    section = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and line and _DASHES.match(lines[i + 1]):
            starts = [m.start() for m in re.finditer(r"-+", lines[i + 1])]
            ends = [s - 2 for s in starts[1:]] + [None]

            def cut(row: str, starts: list[int] = starts, ends: list[Any] = ends) -> list[str]:
                return [row[s:e].rstrip() for s, e in zip(starts, ends, strict=True)]

            above = lines[i - 1] if i > 0 and lines[i - 1] else None
            g = Grid(above, section, [unterminal(c) for c in cut(line)])
            i += 2
            while i < len(lines) and lines[i]:
                cells = [unterminal(c) for c in cut(lines[i])]
                g.rows.append(dict(zip(g.columns, cells, strict=True)))
                i += 1
            grids.append(g)
            continue
        heading = re.fullmatch(r"== (.*) ==", line)
        if heading:
            section = unterminal(heading.group(1))
        elif not grids and line and not (i + 1 < len(lines) and _DASHES.match(lines[i + 1])):
            lead.append(unterminal(line))
        i += 1
    return lead, grids


def markdown_cells(line: str) -> list[str]:
    """A Markdown table row split on its unescaped pipes, each cell back to its text."""
    cells, current, chars = [], "", iter(line.strip()[1:-1])
    for ch in chars:
        if ch == "\\":
            current += ch + next(chars, "")
        elif ch == "|":
            cells.append(current)
            current = ""
        else:
            current += ch
    cells.append(current)
    return [unmarkdown(c.strip()) for c in cells]


def unmarkdown(text: str) -> str:
    """A cell or heading as a reader sees it: leading &nbsp; are spaces, a backslash makes the
    next character literal; then the terminal escapes undone."""
    stripped = text.lstrip()
    spaces = 0
    while stripped.startswith("&nbsp;"):
        stripped, spaces = stripped[len("&nbsp;") :], spaces + 1
    # Escaping, not only content: no character that starts markup is left bare.
    bare = re.sub(r"\\.", "", stripped)
    assert not re.search(r"[<>*`\[\]~|&]", bare), text
    return unterminal(" " * spaces + re.sub(r"\\(.)", r"\1", stripped))


def parse_markdown(text: str) -> tuple[list[str], list[Grid]]:
    """Markdown: the paragraphs before the first table, and each pipe table under the last
    '###'/'##' heading above it ('## ' headings that hold '###' ones are sections)."""
    lines = text.split("\n")
    grids: list[Grid] = []
    lead: list[str] = []
    heading: str | None = None
    section: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if (
            line.startswith("|")
            and i + 1 < len(lines)
            and re.fullmatch(r"\|[-|:]+\|", lines[i + 1])
        ):
            g = Grid(heading, section, markdown_cells(line))
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                g.rows.append(dict(zip(g.columns, markdown_cells(lines[i]), strict=True)))
                i += 1
            grids.append(g)
            heading = None
            continue
        if line.startswith("### "):
            heading = unmarkdown(line[4:])
        elif line.startswith("## "):
            heading = unmarkdown(line[3:])
            section = heading
        elif line and not line.startswith("# ") and not grids:
            lead.append(unmarkdown(line))
        i += 1
    return lead, grids


FORMULA = ("=", "+", "-", "@", "\t", "\r")


def parse_csv(text: str) -> list[dict[str, str]]:
    """CSV rows; a cell that the formula guard prefixed with ' is read back without it."""

    def value(cell: str) -> str:
        # Escaping, not only content: no cell starts a formula, but a number may be negative.
        assert not (cell[:1] in FORMULA and not re.fullmatch(r"-\d+(\.\d+)?", cell)), cell
        if cell.startswith("'") and cell[1:2] in FORMULA:
            cell = cell[1:]
        return unterminal(cell)

    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    return [dict(zip(header, map(value, row), strict=True)) for row in reader]


class _Html(HTMLParser):
    """Headings and tables of the HTML report (the parser unescapes entities)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.grids: list[Grid] = []
        self.paragraphs: list[str] = []
        self.h2: str | None = None
        self.h3: str | None = None
        self.text: str | None = None
        self.row: list[str] | None = None
        self.header: list[str] | None = None
        self.classes: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("h2", "h3", "th", "td", "p"):
            self.text = ""
        if tag == "table":
            self.header = []
            self.grids.append(Grid(self.h3, self.h2, []))
        if tag == "tr":
            self.row = []

    def handle_endtag(self, tag: str) -> None:
        text = unterminal(self.text or "")
        if tag == "h2":
            self.h2, self.h3 = text, None
        elif tag == "h3":
            self.h3 = text
        elif tag == "p":
            self.paragraphs.append(text)
        elif tag == "th" and self.header is not None:
            self.header.append(text)
        elif tag == "td" and self.row is not None:
            self.row.append(text)
        elif tag == "tr" and self.row:
            g = self.grids[-1]
            g.rows.append(dict(zip(g.columns, self.row, strict=True)))
        elif tag == "thead" and self.header is not None:
            self.grids[-1].columns = self.header
        elif tag == "table":
            self.h3 = None
        if tag in ("h2", "h3", "th", "td", "p"):
            self.text = None

    def handle_data(self, data: str) -> None:
        if self.text is not None:
            self.text += data


def parse_html(text: str) -> tuple[list[str], list[Grid]]:
    parser = _Html()
    parser.feed(text)
    parser.close()
    return parser.paragraphs, parser.grids


def parse_grids(fmt: str, text: str) -> tuple[list[str], list[Grid]]:
    if fmt in ("table", "text"):
        return parse_table(text)
    if fmt == "markdown":
        return parse_markdown(text)
    assert fmt == "html", fmt
    return parse_html(text)


def output(*args: str | Path, code: int = 0, wide: bool = True) -> str:
    """A command's standard output (tables whole with --wide); it must exit `code`, quietly."""
    proc = run(*args, *(["--wide"] if wide else []))
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert proc.stderr == "", proc.stderr
    return proc.stdout


# -- detect ------------------------------------------------------------------------------------

# From samples/roots/debian10-no-timens: /proc/self/ns has every type but time, the Debian 10
# config lacks CONFIG_TIME_NS, /proc/sys/user/max_*_namespaces are 31529 (none for time), and
# kernel.unprivileged_userns_clone = 0 keeps unprivileged users from every type.
DETECT_DEBIAN10 = {
    t: {
        "status": "available",
        "present": "yes",
        "limit": "31529",
        "unprivileged": "no",
        "reason": f"/proc/self/ns/{t} exists; {option}",
    }
    for t, option in {
        "cgroup": "CONFIG_CGROUPS=y",
        "ipc": "CONFIG_IPC_NS=y",
        "mnt": "always built (no config option)",
        "net": "CONFIG_NET_NS=y",
        "pid": "CONFIG_PID_NS=y",
        "user": "CONFIG_USER_NS=y; unprivileged users: denied "
        "(kernel.unprivileged_userns_clone = 0)",
        "uts": "CONFIG_UTS_NS=y",
    }.items()
}
DETECT_DEBIAN10["time"] = {
    "status": "missing",
    "present": "no",
    "limit": "",
    "unprivileged": "no",
    "reason": "/proc/self/ns/time is absent; CONFIG_TIME_NS absent",
}
DETECT_SYSCTLS = {
    "kernel.unprivileged_userns_clone": "0",
    "kernel.apparmor_restrict_unprivileged_userns": "",
    "user.max_user_namespaces": "31529",
    "kernel.apparmor_restrict_unprivileged_unconfined": "",
    "kernel.apparmor_restrict_unprivileged_userns_complain": "",
    "kernel.unprivileged_userns_apparmor_policy": "",
}


def _detect_facts(fmt: str, text: str) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """(per type: status, /proc, limit, unprivileged verdict, reason; sysctl -> value)."""
    if fmt == "json":
        data = json.loads(text)
        types = {
            t["type"]: {
                "status": t["status"],
                "present": {True: "yes", False: "no"}[t["present"]],
                "limit": "" if t["limit"] is None else str(t["limit"]),
                "unprivileged": t["unprivileged"]["value"],
                "reason": t["reason"],
            }
            for t in data["types"]
        }
        return types, {r["name"]: r["value"] or "" for r in data["restrictions"]}
    if fmt == "csv":
        rows = parse_csv(text)
        keys = ("status", "present", "limit", "unprivileged", "reason")
        return {r["type"]: {k: r[k] for k in keys} for r in rows}, {}
    _, grids = parse_grids(fmt, text)
    types_grid = grid(grids, "TYPE", "STATUS", "CONFIG")
    sysctls = grid(grids, "SYSCTL", "VALUE", "MEANING", title="User namespace restrictions")
    types = {
        r["TYPE"]: {
            "status": r["STATUS"],
            "present": r["/PROC"],
            "limit": "" if r["LIMIT"] == "-" else r["LIMIT"],
            "unprivileged": r["UNPRIVILEGED"],
            "reason": r["REASON"],
        }
        for r in types_grid.rows
    }
    return types, {r["SYSCTL"]: "" if r["VALUE"] == "-" else r["VALUE"] for r in sysctls.rows}


@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "csv"])
def test_detect_says_each_types_status_and_reason(fmt: str) -> None:
    text = output("detect", "--root", DEBIAN10, "--format", fmt)
    types, sysctls = _detect_facts(fmt, text)
    assert types == DETECT_DEBIAN10
    if fmt != "csv":  # the CSV is a row per type only
        assert sysctls == DETECT_SYSCTLS


def test_detect_lines_say_the_kernel_and_the_unprivileged_verdict() -> None:
    expected = [
        "Kernel: 4.19.0-20-amd64",
        "Unprivileged user namespaces: denied (kernel.unprivileged_userns_clone = 0)",
    ]
    for fmt in ("table", "markdown"):
        lead, _ = parse_grids(fmt, output("detect", "--root", DEBIAN10, "--format", fmt))
        said = [line.split(" (from ")[0] for line in lead if not line.startswith("Kernel config")]
        assert said == expected, fmt
    data = json.loads(output("detect", "--root", DEBIAN10, "--format", "json"))
    assert data["kernel"]["release"] == "4.19.0-20-amd64"
    assert data["unprivileged_userns"] == {
        "value": "denied",
        "reason": "kernel.unprivileged_userns_clone = 0",
    }


# -- check -------------------------------------------------------------------------------------

WAIVER_REASON = HOSTILE
CHECK_POLICY = f"""
[policy]
name = "fmt"
title = "Formats"

[[rule]]
id = "TIMENS"
title = "time namespaces are built"
severity = "high"
check = {{ kind = "capability", type = "time", status = "available" }}

[[rule]]
id = "CLONE0"
title = "unprivileged clone is off"
severity = "medium"
check = {{ kind = "sysctl", name = "kernel.unprivileged_userns_clone", equals = 0 }}

[[rule]]
id = "MAXUSER"
title = "no user namespaces"
severity = "low"
check = {{ kind = "sysctl", name = "user.max_user_namespaces", equals = 0 }}
[[rule.waiver]]
hosts = "*"
reason = {json.dumps(WAIVER_REASON)}
expires = 2099-01-01

[[rule]]
id = "NETS"
title = "no network namespaces"
severity = "low"
check = {{ kind = "count", type = "net", at_most = 0 }}
"""
# On debian10-no-timens (a tree that runs nothing): no time namespaces; the clone switch is 0;
# max_user_namespaces is 31529, not 0, but waived; no processes, so no namespaces to count.
TIME_EVIDENCE = "time namespaces: missing (/proc/self/ns/time is absent; CONFIG_TIME_NS absent)"
CHECK_DEBIAN10: dict[str, dict[str, Any]] = {
    "TIMENS": {
        "result": "fail",
        "summary": "time namespaces are not available",
        "evidence": [TIME_EVIDENCE],
        "waiver": None,
    },
    "CLONE0": {
        "result": "pass",
        "summary": "kernel.unprivileged_userns_clone = 0 (want 0)",
        "evidence": ["kernel.unprivileged_userns_clone = 0 (want 0)"],
        "waiver": None,
    },
    "MAXUSER": {
        "result": "waived",
        "summary": "user.max_user_namespaces = 31529 (want 0)",
        "evidence": ["user.max_user_namespaces = 31529 (want 0)"],
        "waiver": ("*", "2099-01-01", WAIVER_REASON),
    },
    "NETS": {
        "result": "skip",
        "summary": f"not applicable: {DEBIAN10} runs no processes, so it holds no namespaces",
        "evidence": [],
        "waiver": None,
    },
}
_WAIVER_TEXT = re.compile(
    r"waived for (.*?) until (\d{4}-\d\d-\d\d)(?:, approved by .*?)?: (.*)", re.S
)


def waiver_of(text: str) -> tuple[str, ...]:
    """(hosts, expires, reason) from the waiver's sentence."""
    m = _WAIVER_TEXT.fullmatch(text)
    assert m is not None, text
    return m.groups()


def _check_facts(fmt: str, text: str) -> dict[str, dict[str, Any]]:
    """Per rule: result, summary, evidence texts, waiver (hosts, expires, reason)."""
    if fmt == "json":
        out = {}
        for r in json.loads(text)["results"]:
            w = r["waiver"]
            out[r["id"]] = {
                "result": r["outcome"],
                "summary": r["summary"],
                "evidence": [e["text"] for e in r["evidence"]],
                "waiver": (",".join(w["hosts"]), w["expires"], w["reason"]) if w else None,
            }
        return out
    if fmt == "csv":
        return {
            r["rule"]: {
                "result": r["result"],
                "summary": r["summary"],
                "evidence": r["evidence"].split(" | ") if r["evidence"] else [],
                "waiver": waiver_of(r["waiver"]) if r["waiver"] else None,
            }
            for r in parse_csv(text)
        }
    if fmt == "junit":
        return _junit_facts(ET.fromstring(text))["unknown"]
    _, grids = parse_grids(fmt, text)
    results = grid(grids, "RULE", "SEVERITY", "RESULT", "SUMMARY", title="Policy results")
    evidence = grid(grids, "RULE", "EVIDENCE", title="Evidence")
    out = {}
    for r in results.rows:
        said = [e["EVIDENCE"] for e in evidence.rows if e["RULE"] == r["RULE"]]
        waivers = [waiver_of(s) for s in said if s.startswith("waived for ")]
        out[r["RULE"]] = {
            "result": r["RESULT"],
            "summary": r["SUMMARY"],
            "evidence": [s for s in said if not s.startswith("waived for ")],
            "waiver": waivers[0] if waivers else None,
        }
    return out


def _junit_facts(root: ET.Element) -> dict[str, dict[str, dict[str, Any]]]:
    """Per test suite (host), per rule: what its test case says."""
    outcome = {"failure": "fail", "error": "error"}
    suites: dict[str, dict[str, dict[str, Any]]] = {}
    for suite in root.iter("testsuite"):
        rules = suites.setdefault(unterminal(suite.get("name", "")), {})
        for case in suite.iter("testcase"):
            rule = unterminal(case.get("name", "")).split(": ", 1)[0]
            child = next(iter(case))
            body = [unterminal(t) for t in (child.text or "").split("\n") if t]
            message = unterminal(child.get("message", ""))
            waived = ""
            if child.tag == "system-out":
                rules[rule] = {"result": "pass", "summary": body[0], "evidence": body[1:]}
            else:
                summary, _, waived = message.partition("; waived for ")
                result = outcome.get(child.tag) or ("waived" if waived else "skip")
                rules[rule] = {"result": result, "summary": summary, "evidence": body}
            rules[rule]["waiver"] = waiver_of("waived for " + waived) if waived else None
            # What JUnit counts must agree with the cases it holds.
            assert suite.get("failures") == str(sum(c.find("failure") is not None for c in suite))
    return suites


@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "csv", "junit"])
def test_check_says_each_rules_outcome_evidence_and_waiver(tmp_path: Path, fmt: str) -> None:
    policy = tmp_path / "fmt.toml"
    policy.write_text(CHECK_POLICY)
    text = output("check", "--policy", policy, "--root", DEBIAN10, "--format", fmt, code=1)
    facts = _check_facts(fmt, text)
    expected = CHECK_DEBIAN10
    if fmt in ("table", "markdown"):
        # The text formats list the evidence of rules that do not pass.
        expected = {
            k: {**v, "evidence": [] if v["result"] == "pass" else v["evidence"]}
            for k, v in expected.items()
        }
    assert facts == expected


# -- a database made for these tests: two hosts, three snapshots, known namespaces -------------

WEB = "web-1"
OTHER = "db,2|<b>x</b>"  # a host name with CSV and Markdown separators and markup
DEV = 4
NET_KEPT, UTS_GONE, NET_NEW, NET_OTHER = 4026532001, 4026532002, 4026532003, 4026532011
INIT_NET = 4026531840
OWNER = 4026531837


@dataclass(frozen=True)
class Made:
    """The database and what it holds."""

    db: Path
    web_ids: tuple[int, int]
    other_id: int
    taken_at: dict[int, str]


def _namespace(
    ns_type: str, inode: int, *, pid: int | None = None, holders: tuple[Any, ...] = (), **kw: Any
) -> Any:
    from nsaudit.model import Namespace, NamespaceId, NsType

    fields: dict[str, Any] = {
        "nprocs": 0 if pid is None else 1,
        "pid": pid,
        "pid_start": None if pid is None else 1000,
        "ppid": None if pid is None else 1,
        "command": None,
        "cmdline": None,
        "uid": None if pid is None else 0,
        "user": None if pid is None else "root",
        "ns_id": None,
        "parent": None,
        "owner": NamespaceId(NsType.USER, DEV, OWNER),
        "owner_uid": 0,
        "holders": holders,
    }
    fields.update(kw)
    return Namespace(id=NamespaceId(NsType(ns_type), DEV, inode), **fields)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    """Each snapshot holds the host's own net namespace (systemd, pid 1).
    web-1 (the Debian 10 sample's capabilities): seq 1 holds a bind-mounted net namespace
    and a uts namespace of old-worker; seq 2 keeps the first, loses the uts one, and gains a
    net namespace of two processes whose command line is HOSTILE, also held by an fd.
    OTHER (the Ubuntu 25.04 sample's capabilities): one snapshot, the bind-mounted one."""
    from nsaudit.hostfs import HostFS
    from nsaudit.kernel.detect import detect
    from nsaudit.kernel.report import report
    from nsaudit.model import Holder, HostInfo, Snapshot
    from nsaudit.store.database import Database
    from nsaudit.store.snapshots import save

    db = tmp_path_factory.mktemp("formats") / "made.db"
    # Minutes apart, early yesterday: one day of history, whenever the test runs.
    day = datetime.now(UTC).replace(hour=0, minute=10, second=0, microsecond=0)
    day -= timedelta(days=1)
    init = _namespace("net", INIT_NET, pid=1, command="systemd", cmdline="/sbin/init")
    kept = _namespace("net", NET_KEPT, holders=(Holder("mount", path="/run/netns/blue"),))
    gone = _namespace("uts", UTS_GONE, pid=4100, command="old-worker", cmdline="old-worker -x")
    new = _namespace(
        "net",
        NET_NEW,
        pid=4242,
        nprocs=2,
        command="worker",
        cmdline=HOSTILE,
        uid=1000,
        user="svc",
        holders=(Holder("fd", pid=4300, fd=7), Holder("mount", path="/run/netns/red")),
    )

    def snap(host: str, caps: Path, minute: int, label: str | None, *namespaces: Any) -> Any:
        return Snapshot(
            host=HostInfo(host, host[0] * 32, f"boot-of-{host}", f"kernel-of-{host}"),
            taken_at=(day + timedelta(minutes=minute)).isoformat(timespec="microseconds"),
            nsaudit_version="0",
            label=label,
            duration_ms=5,
            threads=False,
            namespaces=namespaces,
            problems=(),
            capabilities=report(detect(HostFS(str(caps)))),
        )

    snaps = [
        snap(WEB, DEBIAN10, 1, HOSTILE, init, kept, gone),
        snap(WEB, DEBIAN10, 2, "second", init, kept, new),
        snap(OTHER, UBUNTU, 3, None, init, replace(kept, id=replace(kept.id, inode=NET_OTHER))),
    ]
    with Database(str(db)).writing() as conn:
        ids = [save(conn, s).id for s in snaps]
    return Made(
        db, (ids[0], ids[1]), ids[2], {i: s.taken_at for i, s in zip(ids, snaps, strict=True)}
    )


# -- show --------------------------------------------------------------------------------------

# web-1's seq 2, as written into it above.
SHOW_WEB = {
    str(INIT_NET): {
        "type": "net",
        "nprocs": "1",
        "pid": "1",
        "user": "root",
        "command": "/sbin/init",
        "owner": str(OWNER),
        "holders": [],
    },
    str(NET_KEPT): {
        "type": "net",
        "nprocs": "0",
        "pid": "",
        "user": "",
        "command": "",
        "owner": str(OWNER),
        "holders": ["mount /run/netns/blue"],
    },
    str(NET_NEW): {
        "type": "net",
        "nprocs": "2",
        "pid": "4242",
        "user": "svc",
        "command": HOSTILE,
        "owner": str(OWNER),
        "holders": ["fd 4300:7", "mount /run/netns/red"],
    },
}


def holder_text(h: dict[str, Any]) -> str:
    """A JSON holder as the README spells it in tables: fd PID:FD, mount PATH, for-children
    PID, thread TID."""
    if h["kind"] == "fd":
        return f"fd {h['pid']}:{h['fd']}"
    if h["kind"] == "mount":
        return f"mount {h['path']}"
    return f"{h['kind'].replace('_', '-')} {h['pid']}"


def _show_facts(fmt: str, text: str) -> dict[str, dict[str, Any]]:
    """Per inode: type, nprocs, pid, user, command line, owner inode, holders."""
    if fmt == "json":
        return {
            str(n["inode"]): {
                "type": n["type"],
                "nprocs": str(n["nprocs"]),
                "pid": "" if n["pid"] is None else str(n["pid"]),
                "user": n["user"] or "",
                "command": n["cmdline"] or n["command"] or "",
                "owner": "" if n["owner"] is None else str(n["owner"]["inode"]),
                "holders": [holder_text(h) for h in n["holders"]],
            }
            for n in json.loads(text)["namespaces"]
        }
    if fmt == "csv":
        return {
            r["inode"]: {
                "type": r["type"],
                "nprocs": r["nprocs"],
                "pid": r["pid"],
                "user": r["user"],
                "command": r["cmdline"] or r["command"],
                "owner": r["owner_inode"],
                "holders": r["holders"].split("; ") if r["holders"] else [],
            }
            for r in parse_csv(text)
        }
    _, grids = parse_grids(fmt, text)
    return {
        r["NS"]: {
            "type": r["TYPE"],
            "nprocs": r["NPROCS"],
            "pid": r["PID"],
            "user": r["USER"],
            "command": r["COMMAND"],
            "owner": r["OWNER"],
            "holders": r["HOLDERS"].split(", ") if r["HOLDERS"] else [],
        }
        for r in grid(grids, "NS", "TYPE", "NPROCS").rows
    }


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown"])
def test_show_says_each_namespaces_type_process_command_and_holders(made: Made, fmt: str) -> None:
    text = output("show", "--db", made.db, "--host", WEB, "--format", fmt)
    assert _show_facts(fmt, text) == SHOW_WEB
    # Its first snapshot: the uts namespace of old-worker, which the second lost.
    first = _show_facts(fmt, output("show", str(made.web_ids[0]), "--db", made.db, "--format", fmt))
    assert set(first) == {str(INIT_NET), str(NET_KEPT), str(UTS_GONE)}
    assert first[str(UTS_GONE)]["command"] == "old-worker -x"
    assert first[str(UTS_GONE)]["pid"] == "4100"


# -- diff --------------------------------------------------------------------------------------

# Between web-1's two snapshots: the HOSTILE net namespace came, old-worker's uts went.
DIFF_WEB = {
    ("created", str(NET_NEW)): {
        "type": "net",
        "pid": "4242",
        "command": HOSTILE,
        "detail": "fd 4300:7, mount /run/netns/red",
    },
    ("vanished", str(UTS_GONE)): {
        "type": "uts",
        "pid": "4100",
        "command": "old-worker -x",
        "detail": "",
    },
}
DIFF_SUMMARY = "1 created, 1 vanished, 0 changed, 0 capability changes"


def _diff_facts(fmt: str, text: str) -> tuple[dict[tuple[str, str], dict[str, str]], str]:
    """(per (change, inode): type, pid, command line, detail; the summary)."""
    if fmt == "json":
        data = json.loads(text)
        rows = {}
        for change in ("created", "vanished", "changed"):
            for item in data[change]:
                n = item["new"] if change == "changed" else item
                rows[(change, str(n["inode"]))] = {
                    "type": n["type"],
                    "pid": "" if n["pid"] is None else str(n["pid"]),
                    "command": n["cmdline"] or n["command"] or "",
                    "detail": ", ".join(holder_text(h) for h in n["holders"])
                    if change == "created"
                    else "",
                }
        s = data["summary"]
        summary = (
            f"{s['created']} created, {s['vanished']} vanished, {s['changed']} changed, "
            f"{s['capabilities']} capability changes"
        )
        return rows, summary
    lead, grids = parse_grids(fmt, text)
    rows = {
        (r["CHANGE"], r["NS"]): {
            "type": r["TYPE"],
            "pid": r["PID"],
            "command": r["COMMAND"],
            "detail": r["DETAIL"],
        }
        for r in grid(grids, "CHANGE", "TYPE", "NS").rows
    }
    (summary,) = [line for line in lead if re.match(r"\d+ created, ", line)]
    return rows, summary


@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
def test_diff_says_what_was_created_and_what_vanished(made: Made, fmt: str) -> None:
    text = output("diff", "--db", made.db, "--host", WEB, "--format", fmt, code=1)
    assert _diff_facts(fmt, text) == (DIFF_WEB, DIFF_SUMMARY)


# -- snapshots and hosts -----------------------------------------------------------------------


def _listing(fmt: str, text: str, key: str, columns: dict[str, str]) -> list[dict[str, str]]:
    """The rows of a list (snapshots, hosts) as {field: text}; columns: field -> table column;
    JSON lists nest and type their values, so `key` names the list and they are flattened."""
    if fmt == "json":
        out = []
        for item in json.loads(text)[key]:
            flat = {**item, **{f"last_{k}": v for k, v in (item.get("last") or {}).items()}}
            out.append({f: "" if flat[f] is None else cell_text(flat[f]) for f in columns})
        return out
    if fmt == "csv":
        return [{f: r[c.lower()] for f, c in columns.items()} for r in parse_csv(text)]
    _, grids = parse_grids(fmt, text)
    (g,) = grids
    return [{f: r[c] for f, c in columns.items()} for r in g.rows]


def cell_text(value: object) -> str:
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_snapshots_lists_each_snapshot_newest_first(made: Made, fmt: str) -> None:
    text = output("snapshots", "--db", made.db, "--format", fmt)
    columns = {
        "id": "ID",
        "hostname": "HOST",
        "seq": "SEQ",
        "namespaces": "NAMESPACES",
        "partial": "PARTIAL",
        "label": "LABEL",
        "taken_at": "TIME",
    }
    first, second = made.web_ids
    expected = [
        (made.other_id, OTHER, "1", "2", ""),
        (second, WEB, "2", "3", "second"),
        (first, WEB, "1", "3", HOSTILE),
    ]
    assert _listing(fmt, text, "snapshots", columns) == [
        {
            "id": str(i),
            "hostname": host,
            "seq": seq,
            "namespaces": n,
            "partial": "no",
            "label": label,
            "taken_at": made.taken_at[i],
        }
        for i, host, seq, n, label in expected
    ]


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_hosts_lists_each_host_with_its_last_snapshot(made: Made, fmt: str) -> None:
    text = output("hosts", "--db", made.db, "--format", fmt)
    columns = {
        "hostname": "HOST",
        "snapshots": "SNAPSHOTS",
        "last_id": "LAST",
        "last_seq": "SEQ",
        "last_kernel": "KERNEL",
        "last_partial": "PARTIAL",
    }
    rows = _listing(fmt, text, "hosts", columns)
    assert sorted(rows, key=lambda r: r["hostname"]) == [
        {
            "hostname": OTHER,
            "snapshots": "1",
            "last_id": str(made.other_id),
            "last_seq": "1",
            "last_kernel": f"kernel-of-{OTHER}",
            "last_partial": "no",
        },
        {
            "hostname": WEB,
            "snapshots": "2",
            "last_id": str(made.web_ids[1]),
            "last_seq": "2",
            "last_kernel": f"kernel-of-{WEB}",
            "last_partial": "no",
        },
    ]


# -- compare -----------------------------------------------------------------------------------

STATUSES_WEB = {t: v["status"] for t, v in DETECT_DEBIAN10.items()}
# The Ubuntu 25.04 sample builds and shows every type, time too.
STATUSES_OTHER = dict.fromkeys(STATUSES_WEB, "available")


def _compare_facts(fmt: str, text: str) -> dict[str, Any]:
    """Status per type and host; the evidence that differs for time and user; and but for
    CSV (the capability table alone): counts, non-initial namespaces by holder, mount paths."""
    if fmt == "json":
        data = json.loads(text)
        facts = {f["key"]: f["values"] for f in data["facts"]}
        hosts = [h["hostname"] for h in data["hosts"]]
        return {
            "status": {
                h: {t: facts[f"types.{t}.status"][i] for t in STATUSES_WEB}
                for i, h in enumerate(hosts)
            },
            "differs": {
                # The table shows a differing status in its host columns, not as evidence.
                t: sorted(
                    k.split(".", 2)[2]
                    for k in data["differing"]
                    if k.startswith(f"types.{t}.") and not k.endswith(".status")
                )
                for t in ("time", "user")
            },
            "counts": {t: n for t, n in data["counts"].items() if any(n)},
            "holders": {(h["type"], h["command"], h["user"]): h["counts"] for h in data["holders"]},
            "mounts": {m["path"]: m["held"] for m in data["mounts"]},
        }
    if fmt == "csv":
        rows = parse_csv(text)
        grids = [Grid("Capabilities", None, list(rows[0]), rows)]
    else:
        _, grids = parse_grids(fmt, text)
    caps = grid(grids, "TYPE", WEB, OTHER, "EVIDENCE THAT DIFFERS")
    out: dict[str, Any] = {
        "status": {h: {r["TYPE"]: r[h] for r in caps.rows} for h in (WEB, OTHER)},
        "differs": {
            r["TYPE"]: sorted(e.split(": ", 1)[0] for e in r["EVIDENCE THAT DIFFERS"].split("; "))
            for r in caps.rows
            if r["TYPE"] in ("time", "user")
        },
    }
    if fmt == "csv":
        return out
    counts = grid(grids, "TYPE", WEB, OTHER, title="Namespaces per type")
    holders = grid(grids, "TYPE", "COMMAND", "USER", WEB, OTHER)
    mounts = grid(grids, "PATH", WEB, OTHER)
    out["counts"] = {
        r["TYPE"]: [int(r[WEB]), int(r[OTHER])] for r in counts.rows if r[WEB] + r[OTHER] != "00"
    }
    out["holders"] = {
        (r["TYPE"], r["COMMAND"], r["USER"]): [int(r[WEB]), int(r[OTHER])] for r in holders.rows
    }
    out["mounts"] = {r["PATH"]: [r[WEB] == "yes", r[OTHER] == "yes"] for r in mounts.rows}
    return out


@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "csv"])
def test_compare_says_each_hosts_status_counts_holders_and_mounts(made: Made, fmt: str) -> None:
    text = output("compare", WEB, OTHER, "--db", made.db, "--format", fmt)
    expected: dict[str, Any] = {
        "status": {WEB: STATUSES_WEB, OTHER: STATUSES_OTHER},
        # Debian 10 has no time namespaces and no max_time_namespaces; Ubuntu's AppArmor
        # switch restricts unprivileged user namespaces, Debian's clone switch denies them.
        "differs": {
            "time": ["config.CONFIG_TIME_NS", "limit", "present"],
            "user": ["limit", "unprivileged"],
        },
    }
    if fmt != "csv":
        expected |= {
            "counts": {"net": [3, 2]},
            # pid 1's namespace is each host's own; the others by command and user.
            "holders": {("net", "-", "-"): [1, 1], ("net", "worker", "svc"): [1, 0]},
            "mounts": {"/run/netns/blue": [True, True], "/run/netns/red": [True, False]},
        }
    assert _compare_facts(fmt, text) == expected


# -- report ------------------------------------------------------------------------------------

REPORT_POLICY = """
[policy]
name = "fleet"
title = "Fleet |rules| <i>"

[[rule]]
id = "TIMENS"
title = "time namespaces are built"
severity = "high"
check = { kind = "capability", type = "time", status = "available" }

[[rule]]
id = "NETS"
title = "at most two network namespaces"
severity = "medium"
check = { kind = "count", type = "net", at_most = 2 }

[[rule]]
id = "HOLD"
title = "only systemd holds namespaces"
severity = "low"
check = { kind = "holders", commands = ["systemd"], paths = ["/run/netns/blue"] }
"""
NEW_NS = f"net:[{NET_NEW}]"
# web-1's last snapshot: no time namespaces; three net namespaces, the two not pid 1's named in
# the evidence; the new one is bind-mounted at /run/netns/red, which HOLD does not allow.
# OTHER's: time namespaces, two net namespaces, the non-initial one at /run/netns/blue.
REPORT_RULES: dict[str, dict[str, tuple[str, list[str]]]] = {
    WEB: {
        "TIMENS": ("fail", [TIME_EVIDENCE]),
        "NETS": (
            "fail",
            [
                f"net:[{NET_KEPT}] held by mount /run/netns/blue",
                f"{NEW_NS} held by worker (pid 4242, user svc, parent not recorded): {HOSTILE}",
            ],
        ),
        "HOLD": ("fail", [f"{NEW_NS} bind-mounted at /run/netns/red, not an allowed path"]),
    },
    OTHER: {"TIMENS": ("pass", []), "NETS": ("pass", []), "HOLD": ("pass", [])},
}
REPORT_CAPS = {
    WEB: {
        t: (v["status"], v["unprivileged"], v["limit"] or "-") for t, v in DETECT_DEBIAN10.items()
    },
    OTHER: {
        t: ("available", "restricted" if t == "user" else "no", "127574") for t in STATUSES_WEB
    },
}


def _report_facts(fmt: str, text: str) -> dict[str, dict[str, Any]]:
    """Per host: capability (status, unprivileged, limit) per type (not in JUnit), and per
    rule (outcome, evidence of a rule that does not pass); created and vanished that day."""
    if fmt == "junit":
        return {
            host: {
                "rules": {
                    r: (v["result"], [] if v["result"] == "pass" else v["evidence"])
                    for r, v in rules.items()
                }
            }
            for host, rules in _junit_facts(ET.fromstring(text)).items()
        }
    out: dict[str, dict[str, Any]] = {}
    if fmt == "json":
        for h in json.loads(text)["hosts"]:
            out[h["hostname"]] = {
                "caps": {
                    c["type"]: (c["status"], c["unprivileged"], str(c["limit"] or "-"))
                    for c in h["capabilities"]
                },
                "rules": {
                    r["id"]: (
                        r["outcome"],
                        [] if r["outcome"] == "pass" else [e["text"] for e in r["evidence"]],
                    )
                    for r in h["results"]
                },
                "days": [(d["created"], d["vanished"]) for d in h["history"]["days"]],
            }
        return out
    _, grids = parse_grids(fmt, text)
    out = {}
    for g in grids:
        if not (g.section or "").startswith("Host "):
            continue
        host = (g.section or "")[len("Host ") :].rsplit(" (", 1)[0]
        facts = out.setdefault(host, {"caps": {}, "rules": {}, "days": []})
        if g.title == "Capabilities":
            facts["caps"] = {
                r["TYPE"]: (r["STATUS"], r["UNPRIVILEGED"], r["LIMIT"]) for r in g.rows
            }
        elif g.title == "Policy results":
            facts["rules"] = {r["RULE"]: (r["RESULT"], []) for r in g.rows}
        elif g.title == "Evidence":
            for r in g.rows:
                facts["rules"][r["RULE"]][1].append(r["EVIDENCE"])
        elif g.title == "Created and vanished per day":
            facts["days"] = [(int(r["CREATED"]), int(r["VANISHED"])) for r in g.rows]
    # The fleet's matrix says the same outcomes.
    matrix = grid(grids, "RULE", "SEVERITY", OTHER, WEB, title="Rules by host")
    assert {h: {r["RULE"]: r[h] for r in matrix.rows} for h in (WEB, OTHER)} == {
        h: {k: v[0] for k, v in out[h]["rules"].items()} for h in (WEB, OTHER)
    }
    return out


@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "json", "junit"])
def test_report_says_each_hosts_capabilities_outcomes_evidence_and_history(
    made: Made, tmp_path: Path, fmt: str
) -> None:
    policy = tmp_path / "fleet.toml"
    policy.write_text(REPORT_POLICY)
    args = (
        "report",
        "--all-hosts",
        "--db",
        made.db,
        "--policy",
        policy,
        "--format",
        fmt,
        "--stale-after",
        "520w",
    )  # its snapshots are from 2026-11
    facts = _report_facts(fmt, output(*args, code=1))
    for host in (WEB, OTHER):
        if fmt == "junit":
            # JUnit keeps a newline in evidence as a line break, like the one between two.
            said = {r: (o, "\n".join(e)) for r, (o, e) in facts[host]["rules"].items()}
            assert said == {r: (o, "\n".join(e)) for r, (o, e) in REPORT_RULES[host].items()}
            continue
        assert facts[host]["caps"] == REPORT_CAPS[host], host
        assert facts[host]["rules"] == REPORT_RULES[host], host
    if fmt != "junit":
        # One day: web-1 gained the new net namespace and lost old-worker's uts one.
        assert facts[WEB]["days"] == [(1, 1)]
        assert facts[OTHER]["days"] == [(0, 0)]


# -- metrics -----------------------------------------------------------------------------------


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "host"))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_metrics_say_counts_statuses_time_and_failing_rules(made: Made, tmp_path: Path) -> None:
    import shutil

    db = tmp_path / "made.db"
    shutil.copy(made.db, db)
    policy = tmp_path / "fleet.toml"
    policy.write_text(REPORT_POLICY)
    # Stale after an hour: the snapshots, taken early yesterday, are at least 23 hours old
    # (the default day would not yet have passed for the first minutes after midnight).
    settings = tmp_path / "settings.toml"
    settings.write_text('stale_after = "1h"\n')
    # A recorded check: metrics publish its outcome per rule.
    output("check", "--db", db, "--policy", policy, "--host", WEB, "--record", code=1)
    for host, statuses, counts, taken in (
        (WEB, STATUSES_WEB, {"net": 3}, made.taken_at[made.web_ids[1]]),
        (OTHER, STATUSES_OTHER, {"net": 2}, made.taken_at[made.other_id]),
    ):
        text = output("metrics", "--db", db, "--host", host, "--config", settings, wide=False)
        from prometheus_client.parser import text_string_to_metric_families

        hosts = {s.labels["host"] for f in text_string_to_metric_families(text) for s in f.samples}
        assert hosts == {host}  # the label value comes back whole, markup and all
        samples = _samples(text)
        expected: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {
            ("nsaudit_namespaces", (("type", t),)): float(counts.get(t, 0)) for t in statuses
        }
        expected |= {
            ("nsaudit_capability_status", (("status", s), ("type", t))): float(s == status)
            for t, status in statuses.items()
            for s in ("available", "disabled", "missing", "unknown")
        }
        expected[("nsaudit_last_snapshot_timestamp_seconds", ())] = datetime.fromisoformat(
            taken
        ).timestamp()
        expected[("nsaudit_snapshot_partial", ())] = 0.0
        expected[("nsaudit_host_stale", ())] = 1.0  # older than the hour of its settings
        if host == WEB:
            for rule, severity in (("TIMENS", "high"), ("NETS", "medium"), ("HOLD", "low")):
                labels = (("policy", "fleet"), ("rule", rule), ("severity", severity))
                expected[("nsaudit_policy_rule_failing", labels)] = 1.0
            expected[("nsaudit_policy_failures", (("policy", "fleet"),))] = 3.0
        checked = ("nsaudit_policy_last_check_timestamp_seconds", (("policy", "fleet"),))
        if host == WEB:
            assert abs(samples.pop(checked) - datetime.now(UTC).timestamp()) < 600
        assert samples == expected, host


# -- real namespaces: show, diff, snapshot and audit on this host ------------------------------

# argv[0] of a real process: a formula start, both tables' separators, markup and a newline.
ARGV0 = "=fmt|a,<b>x</b>\nz"


@contextmanager
def hostile_sleeper(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A sleep(1) whose argv[0] is ARGV0, in new uts and net namespaces, and a net namespace
    whose process is gone, held by another process's open fd: what show and diff must name.

    (Not a bind mount under /run/netns: a mount namespace that another test on a busy host
    makes meanwhile keeps a copy of the mount, and so the namespace, after `ip netns del`.)"""
    from nsmakers import fd_held_netns, in_new_namespaces, ns_of, wait_for

    argv: list[str | bytes] = ["bash", "-c", 'exec -a "$0" sleep 300', ARGV0]
    with in_new_namespaces("--uts", "--net", argv=argv) as pid, fd_held_netns() as held:
        wait_for(lambda: Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"=fmt"))
        holder, fd, _, inode = held
        yield {
            "pid": pid,
            "uts": ns_of(pid, "uts")[1],
            "net": ns_of(pid, "net")[1],
            "held": inode,
            "holder": f"fd {holder}:{fd}",
        }


def _mine(made: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What show says of the namespaces hostile_sleeper made, by inode."""
    process = {
        "nprocs": "1",
        "pid": str(made["pid"]),
        "user": "root",
        "command": ARGV0 + " 300",
        "holders": [],
    }
    return {
        str(made["uts"]): {"type": "uts", **process},
        str(made["net"]): {"type": "net", **process},
        str(made["held"]): {
            "type": "net",
            "nprocs": "0",
            "pid": "",
            "user": "",
            "command": "",
            "holders": [made["holder"]],
        },
    }


@needs_root
@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown"])
def test_show_names_the_namespaces_this_test_made(tmp_path: Path, fmt: str) -> None:
    db = tmp_path / "ns.db"
    with hostile_sleeper(tmp_path) as made:
        output("snapshot", "--db", db)
        shown = _show_facts(fmt, output("show", "--db", db, "--format", fmt))
    mine = _mine(made)
    for facts in shown.values():
        del facts["owner"]  # the host's own user namespace: not something the test made
    assert {k: shown.get(k) for k in mine} == mine


@needs_root
@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
def test_diff_names_the_namespaces_this_test_made_and_ended(tmp_path: Path, fmt: str) -> None:
    from nsmakers import held_anywhere, wait_for

    db = tmp_path / "ns.db"
    output("snapshot", "--db", db)
    with hostile_sleeper(tmp_path) as made:
        output("snapshot", "--db", db)
    mine = _mine(made)
    # Gone for good first: another scanner on a busy host may hold one open a moment longer.
    wait_for(lambda: not held_anywhere({f"{m['type']}:[{ino}]" for ino, m in mine.items()}))
    output("snapshot", "--db", db)
    for change, old, new in (("created", "1", "2"), ("vanished", "2", "3")):
        rows, summary = _diff_facts(
            fmt, output("diff", old, new, "--db", db, "--format", fmt, code=1)
        )
        said = {ino: rows.get((change, ino)) for ino in mine}
        assert said == {
            ino: {
                "type": m["type"],
                "pid": m["pid"],
                "command": m["command"],
                # A created namespace's detail names its holders.
                "detail": ", ".join(m["holders"]) if change == "created" else "",
            }
            for ino, m in mine.items()
        }, change
        m = re.match(r"(\d+) created, (\d+) vanished", summary)
        assert m is not None, summary
        counted = int(m.group(1 if change == "created" else 2))
        assert counted == sum(1 for c, _ in rows if c == change) >= 3


_STORED = re.compile(
    r"snapshot (?P<id>\d+) \(host (?P<hostname>.*), seq (?P<seq>\d+)\): (?P<namespaces>\d+) "
    r"namespaces \((?P<counts>[^)]*)\); (?P<scan>complete|partial: .*); "
    r"(?:the first snapshot of this host|since seq (?P<previous_seq>\d+): (?P<created>\d+) "
    r"created, (?P<vanished>\d+) vanished, (?P<changed>\d+) changed"
    r"(?:; \d+ process-count changes)?)",
    re.S,
)
STORED_FIELDS = ("id", "seq", "previous_seq", "hostname", "namespaces", "partial")
CHANGES = ("created", "vanished", "changed")


def _stored_facts(fmt: str, text: str) -> dict[str, str]:
    """What `snapshot` says of the snapshot it stored; counts per type as 'net 1, ...'."""
    if fmt == "json":
        data = json.loads(text)
        facts = {k: "" if data[k] is None else cell_text(data[k]) for k in STORED_FIELDS}
        facts["counts"] = ", ".join(f"{t} {n}" for t, n in data["counts"].items())
        if data["previous_seq"] is not None:
            facts |= {k: str(data[k]) for k in CHANGES}
        return facts
    if fmt == "csv":
        (row,) = parse_csv(text)
        changes = CHANGES if row["previous_seq"] else ()
        return {k: row[k] for k in (*STORED_FIELDS, *changes)}
    lead, grids = parse_grids(fmt, text)
    assert grids == []
    (line,) = lead
    m = _STORED.fullmatch(line)
    assert m is not None, line
    facts = {k: m.group(k) or "" for k in ("id", "seq", "previous_seq", "hostname", "namespaces")}
    facts |= {"partial": "no" if m.group("scan") == "complete" else "yes", "counts": m["counts"]}
    if m.group("previous_seq"):
        facts |= {k: m.group(k) for k in CHANGES}
    return facts


@needs_root
@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown"])
def test_snapshot_says_what_it_stored_and_what_changed(tmp_path: Path, fmt: str) -> None:
    db = tmp_path / "ns.db"
    config = tmp_path / "nsaudit.toml"
    config.write_text(f"hostname = {json.dumps(HOSTILE.replace(chr(10), ' '))}\n")
    first = _stored_facts(fmt, output("snapshot", "--db", db, "--config", config, "--format", fmt))
    with hostile_sleeper(tmp_path) as made:
        text = output("snapshot", "--db", db, "--config", config, "--format", fmt)
    second = _stored_facts(fmt, text)
    # What show and diff, other commands, say of the same snapshots.
    shown = [json.loads(output("show", i, "--db", db, "--format", "json")) for i in ("1", "2")]
    diffed = json.loads(output("diff", "1", "2", "--db", db, "--format", "json", code=1))
    for i, facts in enumerate((first, second)):
        snap = shown[i]
        expected = {
            "id": str(i + 1),
            "seq": str(i + 1),
            "previous_seq": "" if i == 0 else "1",
            "hostname": HOSTILE.replace("\n", " "),
            "namespaces": str(len(snap["namespaces"])),
            "partial": cell_text(snap["partial"]),
        }
        if fmt != "csv":
            expected["counts"] = ", ".join(f"{t} {n}" for t, n in snap["counts"].items())
        if i == 1:
            expected |= {k: str(diffed["summary"][k]) for k in CHANGES}
        assert facts == expected, i
    assert {str(n["inode"]) for n in diffed["created"]} >= set(_mine(made))


AUDIT_POLICY = """
[policy]
name = "live"

[[rule]]
id = "SOME"
title = "user namespaces are allowed"
severity = "low"
check = { kind = "sysctl", name = "user.max_user_namespaces", at_least = 0 }

[[rule]]
id = "NONE"
title = "user namespaces are off"
severity = "high"
check = { kind = "sysctl", name = "user.max_user_namespaces", equals = -1 }
"""


@needs_root
@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
def test_audit_says_what_it_stored_what_changed_and_each_rules_outcome(
    tmp_path: Path, fmt: str
) -> None:
    db = tmp_path / "ns.db"
    policy = tmp_path / "live.toml"
    policy.write_text(AUDIT_POLICY)
    output("audit", "--db", db)
    with hostile_sleeper(tmp_path) as made:
        text = output("audit", "--db", db, "--policy", policy, "--format", fmt, code=1)
    rows, _ = _diff_facts(fmt, text)
    mine = _mine(made)
    assert {ino: rows.get(("created", ino)) for ino in mine} == {
        ino: {
            "type": m["type"],
            "pid": m["pid"],
            "command": m["command"],
            "detail": ", ".join(m["holders"]),
        }
        for ino, m in mine.items()
    }
    limit = Path("/proc/sys/user/max_user_namespaces").read_text().strip()
    some = f"user.max_user_namespaces = {limit} (want >= 0)"
    none = f"user.max_user_namespaces = {limit} (want -1)"
    check = json.dumps(json.loads(text)["check"]) if fmt == "json" else text
    assert _check_facts(fmt, check) == {
        "SOME": {
            "result": "pass",
            "summary": some,
            "evidence": [some] if fmt == "json" else [],
            "waiver": None,
        },
        "NONE": {"result": "fail", "summary": none, "evidence": [none], "waiver": None},
    }
    if fmt == "json":
        data = json.loads(text)
        assert (data["old"]["seq"], data["new"]["seq"]) == (1, 2)
    else:
        lead, _ = parse_grids(fmt, text)
        m = _STORED.fullmatch(lead[0])
        assert m is not None and (m["seq"], m["previous_seq"]) == ("2", "1"), lead[0]
        assert int(m["created"]) == sum(1 for change, _ in rows if change == "created")


# -- detect --probe, and export ----------------------------------------------------------------


@needs_root
@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "csv"])
def test_detect_probe_says_what_unshare_can_create(fmt: str) -> None:
    import subprocess

    # The oracle: unshare(1), as this user, for each type.
    expected = {
        t: "yes" if subprocess.run(["unshare", flag, "true"]).returncode == 0 else "no"
        for t, flag in UNSHARE_FLAG.items()
    }
    text = output("detect", "--probe", "--format", fmt)
    if fmt == "json":
        (probe,) = json.loads(text)["probes"]
        said = {r["type"]: "yes" if r["usable"] else "no" for r in probe["results"]}
        user = probe["user"]
    elif fmt == "csv":
        rows = parse_csv(text)
        (column,) = [c for c in rows[0] if c.startswith("usable_as_")]
        said = {r["type"]: r[column] for r in rows}
        user = column.removeprefix("usable_as_")
    else:
        _, grids = parse_grids(fmt, text)
        g = grid(grids, "TYPE", "STATUS", "CONFIG")
        (column,) = [c for c in g.columns if c.startswith("USABLE AS ")]
        # "yes", "yes (in a user ns)" or "no (EPERM)": the verdict is the first word.
        said = {r["TYPE"]: r[column].split(" ")[0] for r in g.rows}
        user = column.removeprefix("USABLE AS ")
    assert said == expected
    assert user == "root"


def test_export_writes_each_snapshot_with_its_host_label_and_namespaces(made: Made) -> None:
    lines = output("export", "--all", "--db", made.db, wide=False).splitlines()
    head, *records, trailer = (json.loads(line) for line in lines)
    assert head["schema"] == "nsaudit.bundle/1"
    assert trailer == {"end": "nsaudit.bundle/1", "snapshots": 3}
    said = {
        (r["host"]["hostname"], r["seq"]): (
            r["label"],
            r["taken_at"],
            sorted((n["type"], n["inode"]) for n in r["namespaces"]),
            {t["type"]: t["status"] for t in r["capabilities"]["types"]},
        )
        for r in records
    }
    first, second = made.web_ids
    web = (("net", INIT_NET), ("net", NET_KEPT))
    assert said == {
        (WEB, 1): (HOSTILE, made.taken_at[first], sorted((*web, ("uts", UTS_GONE))), STATUSES_WEB),
        (WEB, 2): ("second", made.taken_at[second], sorted((*web, ("net", NET_NEW))), STATUSES_WEB),
        (OTHER, 1): (
            None,
            made.taken_at[made.other_id],
            [("net", INIT_NET), ("net", NET_OTHER)],
            STATUSES_OTHER,
        ),
    }
