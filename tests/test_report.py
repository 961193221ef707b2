"""`nsaudit report` and `nsaudit metrics`: a month of history for several hosts, the HTML in a
real headless browser, JUnit XML against the common schema, metrics through Prometheus's parser."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import IS_ROOT, assert_clean_error, needs_root, run
from nsmakers import in_new_namespaces, wait_for

HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_HOST = "<b>db-2</b>"
HOSTILE = (
    f"import time\nopen('/proc/self/comm', 'w').write({HOSTILE_NAME!r}[:15])\ntime.sleep(300)\n"
)
POLICY = """
[policy]
name = "month"
title = "A month on the fleet"

[[rule]]
id = "HOLD-1"
title = "Only systemd holds namespaces beyond the host's own"
severity = "high"
references = ["https://example.invalid/policy#hold-1"]
check = { kind = "holders", commands = ["systemd*", "worker"], paths = ["/run/netns/*"] }

[[rule]]
id = "NEW-1"
title = "Namespaces created in the period are the workers'"
severity = "medium"
check = { kind = "created", commands = ["worker", "systemd*"] }

[[rule]]
id = "MAX-1"
title = "user.max_user_namespaces is set"
severity = "low"
check = { kind = "sysctl", name = "user.max_user_namespaces", at_least = 1 }
"""


def config(tmp: Path, hostname: str) -> Path:
    path = tmp / f"{uuid.uuid4().hex[:6]}.toml"
    path.write_text(f"hostname = {json.dumps(hostname)}\n")
    return path


def _history(db: Path, hosts: list[str]) -> None:
    """30 days of snapshots per host, built from a real scan of this host: some worker
    namespaces come and go every day, and one host reboots half way."""
    from nsaudit.collect.snapshot import take
    from nsaudit.hostfs import HostFS
    from nsaudit.kernel.detect import detect
    from nsaudit.kernel.report import report
    from nsaudit.model import NamespaceId, NsType
    from nsaudit.store.database import Database
    from nsaudit.store.snapshots import save

    host = HostFS("/")
    base = take(host, capabilities=report(detect(host)))
    template = next(n for n in base.namespaces if n.id.type is NsType.NET)
    now = datetime.now(UTC)
    with Database(str(db)).writing() as conn:
        for h, name in enumerate(hosts):
            for day in range(30, 0, -1):
                # The second host rebooted 15 days ago; the last, real snapshot is of this boot.
                boot = "an-earlier-boot" if h == 1 and day > 15 else base.host.boot_id
                extras = tuple(
                    replace(
                        template,
                        id=NamespaceId(NsType.NET, template.id.dev, 7_000_000 + day * 10 + k),
                        ns_id=None,
                        nprocs=1,
                        pid=300_000 + k,
                        command="worker",
                        cmdline="worker --serve",
                        holders=(),
                    )
                    for k in range(day % 4 + 1)
                )
                snap = replace(
                    base,
                    host=replace(base.host, hostname=name, boot_id=boot),
                    taken_at=(now - timedelta(days=day)).isoformat(timespec="microseconds"),
                    namespaces=base.namespaces + extras,
                )
                save(conn, snap)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Path]]:
    """A database with a month of two hosts (one named with markup), the last snapshot of
    the first taken for real while a process named <img src=x onerror=alert(1)> runs in
    namespaces of its own. Yields (database, policy, directory)."""
    if not IS_ROOT:
        pytest.skip("needs root (CI runs as root)")
    tmp = tmp_path_factory.mktemp("fleet")
    db = tmp / "fleet.db"
    policy = tmp / "month.toml"
    policy.write_text(POLICY)
    _history(db, ["web-1", HOSTILE_HOST])
    argv: list[str | bytes] = [
        "bash",
        "-c",
        f'exec -a "{HOSTILE_NAME}" "{sys.executable}" -c "$0"',
        HOSTILE,
    ]
    with in_new_namespaces("--uts", "--net", argv=argv) as pid:
        wait_for(lambda: Path(f"/proc/{pid}/comm").read_text().startswith("<img"))
        for name in ("web-1", HOSTILE_HOST):
            proc = run("snapshot", "--db", db, "--config", config(tmp, name))
            assert proc.returncode == 0, proc.stderr
    yield db, policy, tmp


def report(db: Path, policy: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return run("report", "--db", db, "--policy", policy, "--all-hosts", *args)


def test_json_report_of_a_month_for_two_hosts(fleet: tuple[Path, Path, Path]) -> None:
    db, policy, _ = fleet
    proc = report(db, policy, "--format", "json", "--since", "30d")
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert data["schema"] == "nsaudit.report/1"
    assert [h["hostname"] for h in data["hosts"]] == [HOSTILE_HOST, "web-1"]
    assert data["fleet"]["failing"]["HOLD-1"] == [HOSTILE_HOST, "web-1"]
    web = data["hosts"][1]
    assert len(web["history"]["days"]) >= 29
    assert len(web["history"]["points"]) >= 30
    assert {c["type"] for c in web["capabilities"]} == {
        "cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"
    }  # fmt: skip
    days = web["history"]["days"]
    # Workers come and go every day: 1 to 4 of them, so each day creates and vanishes some.
    assert sum(d["created"] for d in days) > 30 and sum(d["vanished"] for d in days) > 30
    hold = next(r for r in web["results"] if r["id"] == "HOLD-1")
    assert any(e.get("cmdline", "").startswith(HOSTILE_NAME) for e in hold["evidence"])
    new = next(r for r in web["results"] if r["id"] == "NEW-1")
    assert new["outcome"] == "fail", "the real snapshot created the hostile namespaces"
    other = data["hosts"][0]
    assert sum(d["reboots"] for d in other["history"]["days"]) == 1
    # --since narrows the period.
    short = json.loads(report(db, policy, "--format", "json", "--since", "3d").stdout)
    assert len(short["hosts"][1]["history"]["days"]) <= 4


def test_text_and_markdown_reports_list_the_history_and_escape_names(
    fleet: tuple[Path, Path, Path],
) -> None:
    db, policy, _ = fleet
    text = report(db, policy, "--format", "text").stdout
    assert text.index("Fleet summary") < text.index("== Host web-1")
    assert "Created and vanished per day" in text and "Namespaces per type" in text
    assert HOSTILE_NAME in text  # plain text in a terminal is harmless once controls are escaped
    markdown = report(db, policy, "--format", "markdown").stdout
    # Markdown escapes every '<' so that no renderer reads a tag.
    assert not re.search(r"(?<!\\)<", markdown)
    assert "\\<img src=x onerror=alert(1)\\>" in markdown


def test_report_of_one_named_host_and_errors(fleet: tuple[Path, Path, Path]) -> None:
    db, policy, _ = fleet
    data = json.loads(run("report", "--db", db, "--host", "web-1", "--format", "json").stdout)
    assert [h["hostname"] for h in data["hosts"]] == ["web-1"]
    assert data["policy"] is None and data["hosts"][0]["results"] is None
    assert_clean_error(run("report", "--db", db, "--host", "nope"), 2, "nope", "nsaudit hosts")
    assert_clean_error(
        run("report", "--db", db, "--host", "web-1", "--all-hosts"), 2, "--all-hosts"
    )
    assert_clean_error(run("report", "--db", db, "--since", "soon"), 2, "--since")


def test_host_names_with_control_characters_stay_escaped(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    hostile = "red\x1b[31m\u202eevil"
    for name in (hostile, "plain"):
        assert run("snapshot", "--db", db, "--config", config(tmp_path, name)).returncode == 0
    policy = tmp_path / "p.toml"
    policy.write_text(POLICY)
    for fmt in ("text", "markdown", "junit", "html"):
        out = run("report", "--db", db, "--all-hosts", "--policy", policy, "--format", fmt).stdout
        assert "red" in out and "\x1b" not in out and "\u202e" not in out, fmt
    # The metrics of another host of the database carry its name as the host label.
    metrics = run("metrics", "--db", db, "--host", hostile)
    assert metrics.returncode == 0 and "\x1b" not in metrics.stdout
    assert 'host="red\\\\x1b[31m\\\\u202eevil"' in metrics.stdout
    # This host's, for the textfile collector, carry none: Prometheus adds `instance`.
    own = run("metrics", "--db", db, "--config", config(tmp_path, hostile))
    assert own.returncode == 0 and "host=" not in own.stdout and "nsaudit_namespaces{" in own.stdout
    # An error that names the host escapes it too.
    run("db", "upgrade", "--db", tmp_path / "empty.db")
    proc = run("report", "--db", tmp_path / "empty.db", "--config", config(tmp_path, hostile))
    assert_clean_error(proc, 2, "red\\x1b[31m\\u202eevil")


def test_period_that_cannot_be(tmp_path: Path) -> None:
    for since in ("99999999d", "9999999999999999999d", "-1d"):
        assert_clean_error(
            run("report", "--db", tmp_path / "ns.db", "--since", since), 2, "--since"
        )


def test_output_file_is_written_atomically(fleet: tuple[Path, Path, Path]) -> None:
    db, policy, tmp = fleet
    out = tmp / "report.html"
    out.write_text("the previous report")
    proc = report(db, policy, "--format", "html", "-o", out)
    assert proc.returncode == 1 and proc.stdout == ""
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert not [p for p in tmp.iterdir() if p.name.startswith(".nsaudit-")]
    # A directory that cannot be written: a clear error, and the old file is untouched.
    proc = report(db, policy, "--format", "html", "-o", tmp / "missing" / "r.html")
    assert_clean_error(proc, 2, "cannot write there")


def _chrome() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1200,900",
    ):
        options.add_argument(flag)
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(options=options, service=service)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromedriver are missing: .ci/run installs them")
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install them)")
    os.environ.setdefault("SE_OFFLINE", "true")
    driver = _chrome()
    try:
        yield driver
    finally:
        driver.quit()


def test_html_report_in_a_real_browser(fleet: tuple[Path, Path, Path], browser: Any) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    db, policy, tmp = fleet
    out = tmp / "month.html"
    assert report(db, policy, "--format", "html", "-o", out).returncode == 1
    html = out.read_text()
    # Self-contained: nothing to fetch, nothing to run.
    assert "<script" not in html and "<link" not in html and "@import" not in html
    browser.get(out.as_uri())
    assert browser.title == "nsaudit report"
    headings = [h.text for h in browser.find_elements(By.TAG_NAME, "h2")]
    assert headings[:2] == ["Fleet", "Policy"]
    assert any(h.startswith(f"Host {HOSTILE_HOST} (") for h in headings), headings
    # The hostile process name and host name are text on the page, never elements.
    body = browser.find_element(By.TAG_NAME, "body").text
    assert HOSTILE_NAME in body and HOSTILE_HOST in body
    assert browser.find_elements(By.TAG_NAME, "img") == []
    assert browser.find_elements(By.CSS_SELECTOR, "[onerror]") == []
    assert browser.find_elements(By.CSS_SELECTOR, "h2 b, td b") == []
    with pytest.raises(NoAlertPresentException):
        _ = browser.switch_to.alert.text
    assert browser.find_elements(By.CSS_SELECTOR, "[src], [href]") == []
    # The charts are drawn: a line per namespace type per host, bars per day.
    lines = browser.find_elements(By.CSS_SELECTOR, "figure.chart-line svg polyline.series")
    assert len(lines) == 2 * 8
    assert all(line.size["width"] > 100 for line in lines)
    bars = browser.find_elements(By.CSS_SELECTOR, "figure.chart-bars svg rect.bar")
    assert len(bars) >= 2 * 2 * 29 and any(b.size["height"] > 0 for b in bars)
    # Printable: the print stylesheet starts each host on a new page, and it prints to PDF.
    script = (
        "return [...document.querySelectorAll('section')].map(s => getComputedStyle(s).breakBefore)"
    )
    assert set(browser.execute_script(script)) == {"auto"}
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    assert browser.execute_script(script) == ["auto", "auto", "page", "page"]
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    import base64

    assert base64.b64decode(browser.print_page()).startswith(b"%PDF")


@pytest.fixture(scope="session")
def junit_schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The common JUnit schema (Jenkins xunit's junit-10.xsd), as pytest's own tests use it:
    taken from pytest's source distribution, from the package registry."""
    import importlib.metadata

    import xmlschema

    folder = tmp_path_factory.mktemp("junit-schema")
    version = importlib.metadata.version("pytest")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"pytest=={version}",
            "-d",
            str(folder),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"cannot fetch pytest's sdist for junit-10.xsd: {proc.stderr}"
    (sdist,) = folder.glob("pytest-*.tar.gz")
    with tarfile.open(sdist) as tar:
        member = tar.getmember(f"pytest-{version}/testing/example_scripts/junit-10.xsd")
        data = tar.extractfile(member)
        assert data is not None
        (folder / "junit-10.xsd").write_bytes(data.read())
    return xmlschema.XMLSchema(str(folder / "junit-10.xsd"))


def test_junit_report_validates_against_the_common_schema(
    fleet: tuple[Path, Path, Path], junit_schema: Any
) -> None:
    from xml.etree import ElementTree as ET

    db, policy, _ = fleet
    proc = report(db, policy, "--format", "junit")
    assert proc.returncode == 1
    junit_schema.validate(proc.stdout)
    root = ET.fromstring(proc.stdout)
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [HOSTILE_HOST, "web-1"]
    for suite in suites:
        assert len(suite.findall("testcase")) == 3  # a case per rule
    (case,) = [c for c in suites[1].findall("testcase") if c.get("name", "").startswith("HOLD-1")]
    failure = case.find("failure")
    assert failure is not None and HOSTILE_NAME in (failure.text or "")


@needs_root
def test_check_junit_with_waived_and_control_characters(tmp_path: Path, junit_schema: Any) -> None:
    policy = tmp_path / "p.toml"
    expires = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    policy.write_text(
        '[policy]\nname = "p"\n'
        '[[rule]]\nid = "W"\ntitle = "waived"\nseverity = "low"\n'
        'check = { kind = "sysctl", name = "user.max_user_namespaces", equals = 0 }\n'
        '[[rule.waiver]]\nhosts = "*"\nreason = "bell \\u0007 and escape \\u001b"\n'
        f"expires = {expires}\n"
        '[[rule]]\nid = "P"\ntitle = "passes"\nseverity = "low"\n'
        'check = { kind = "sysctl", name = "user.max_user_namespaces", at_least = 0 }\n'
    )
    proc = run("check", "--policy", policy, "--db", tmp_path / "ns.db", "--format", "junit")
    assert proc.returncode == 0, proc.stderr
    junit_schema.validate(proc.stdout)
    assert "<skipped" in proc.stdout and "\\x07" in proc.stdout and "\x07" not in proc.stdout


def test_metrics_parse_with_prometheus_own_parser(
    fleet: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    db, policy, tmp = fleet
    cfg = config(tmp, "web-1")
    # A check records its results: metrics publish the last one per rule.
    assert (
        run(
            "check", "--db", db, "--policy", policy, "--config", cfg, "--no-snapshot", "--record"
        ).returncode
        == 1
    )
    out = tmp_path / "nsaudit.prom"
    proc = run("metrics", "--db", db, "--config", cfg, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["nsaudit.prom"]  # no temporary left over
    families = {f.name: f for f in text_string_to_metric_families(out.read_text())}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    # This host's metrics, for the textfile collector: no host label (Prometheus adds one).
    net = samples[("nsaudit_namespaces", (("type", "net"),))]
    assert net >= 2
    assert (
        samples[
            (
                "nsaudit_capability_status",
                (("status", "available"), ("type", "user")),
            )
        ]
        == 1
    )
    assert samples[(
        "nsaudit_policy_rule_failing",
        (("policy", "month"), ("rule", "HOLD-1"), ("severity", "high")),
    )] == 1  # fmt: skip
    assert samples[(
        "nsaudit_policy_rule_failing",
        (("policy", "month"), ("rule", "MAX-1"), ("severity", "low")),
    )] == 0  # fmt: skip
    assert samples[("nsaudit_snapshot_partial", ())] in (0, 1)
    taken = samples[("nsaudit_last_snapshot_timestamp_seconds", ())]
    assert abs(taken - time.time()) < 3600
    # A host name with markup is a label value, escaped by the library.
    text = run("metrics", "--db", db, "--host", HOSTILE_HOST).stdout
    assert any(
        s.labels.get("host") == HOSTILE_HOST
        for f in text_string_to_metric_families(text)
        for s in f.samples
    )


def test_metrics_without_a_snapshot_is_a_clear_error(tmp_path: Path) -> None:
    # Commands that only read never create the database: this one exists, empty.
    run("db", "upgrade", "--db", tmp_path / "ns.db")
    proc = run("metrics", "--db", tmp_path / "ns.db", "--host", "nowhere")
    assert_clean_error(proc, 2, "nowhere")
    run("snapshot", "--db", tmp_path / "ns.db")
    proc = run("metrics", "--db", tmp_path / "ns.db", "-o", tmp_path / "missing" / "x.prom")
    assert_clean_error(proc, 2, "cannot write there")


def test_hosts_evaluated_in_worker_processes_report_what_one_process_does(
    fleet: tuple[Path, Path, Path],
) -> None:
    from nsaudit.app.policy import report as run_report
    from nsaudit.render import OutputFormat, formatter
    from nsaudit.settings import Settings
    from nsaudit.store.database import Database
    from nsaudit.timespan import Duration
    from nsaudit.views.report import document

    db, policy, _ = fleet
    now = datetime.now(UTC)
    rendered = []
    for jobs in (1, 2):
        found = run_report(
            Database(str(db)), Settings(), Duration.parse("30d"), policy=str(policy),
            all_hosts=True, now=now, jobs=jobs,
        )  # fmt: skip
        doc = document(found.hosts, found.since, found.now, found.policy)
        rendered.append([formatter(f).render(doc) for f in (OutputFormat.JSON, OutputFormat.HTML)])
    assert rendered[0] == rendered[1]


def test_damage_found_by_a_worker_is_the_same_clean_error(
    fleet: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    import sqlite3

    db, policy, _ = fleet
    copy = tmp_path / "damaged.db"
    shutil.copy(db, copy)
    with sqlite3.connect(copy) as conn:
        conn.execute("UPDATE capability_reports SET body = '{broken'")
    for jobs in ("1", "2"):
        proc = report(copy, policy, "--format", "json", "--jobs", jobs)
        assert_clean_error(proc, 4, "capability report of snapshot", "damaged", "db check")


def test_ctrl_c_stops_the_report_and_its_workers_with_one_line(
    fleet: tuple[Path, Path, Path],
) -> None:
    """Ctrl-C reaches the whole process group, workers included: exit 130, one line, and no
    worker left behind."""
    import signal

    from conftest import python_starting

    db, policy, _ = fleet
    argv = [sys.executable, "-m", "nsaudit", "report", "--db", str(db), "--policy", str(policy),
            "--all-hosts", "--jobs", "2", "--format", "json"]  # fmt: skip
    began = time.monotonic()
    assert subprocess.run(argv, capture_output=True).returncode == 1
    whole = time.monotonic() - began
    interrupted = 0
    # Signals spread over a whole run's time: some land while the workers evaluate.
    for k in range(1, 13):
        proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        )  # fmt: skip
        time.sleep(whole * k / 13)
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        wait_for(lambda pid=proc.pid: not _in_session(pid))
        if proc.returncode in (0, 1) or python_starting(proc.returncode, stderr):
            continue  # it finished before the signal, or Python itself was still starting
        interrupted += 1
        assert proc.returncode == 130, (proc.returncode, stderr)
        assert stderr == "nsaudit: error: interrupted\n", stderr
    assert interrupted, "every run finished before its signal: no fault was injected"


def _in_session(sid: int) -> list[int]:
    """The processes still in a session."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[3]) == sid:
            found.append(int(stat.parent.name))
    return found


@needs_root
def test_a_report_that_cannot_fork_evaluates_its_hosts_itself(
    fleet: tuple[Path, Path, Path],
) -> None:
    """Out of processes (RLIMIT_NPROC: nobody may run one more), --jobs 2 reports as --jobs 1."""
    import tempfile

    from conftest import NOBODY

    db, policy, _ = fleet
    tmp = Path(tempfile.mkdtemp(prefix="nsaudit-nproc-", dir="/tmp"))  # nobody's to read
    try:
        shutil.copy(db, tmp / "fleet.db")
        shutil.copy(policy, tmp / "month.toml")
        for path in (tmp, tmp / "fleet.db", tmp / "month.toml"):
            os.chown(path, 65534, 65534)
        proc = run("report", "--db", tmp / "fleet.db", "--policy", tmp / "month.toml",
                   "--all-hosts", "--jobs", "2", "--format", "json",
                   prefix=("prlimit", "--nproc=1", *NOBODY))  # fmt: skip
    finally:
        shutil.rmtree(tmp)
    assert proc.returncode == 1, proc.stderr
    assert [h["hostname"] for h in json.loads(proc.stdout)["hosts"]] == [HOSTILE_HOST, "web-1"]
