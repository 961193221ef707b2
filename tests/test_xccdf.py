"""XCCDF 1.2 results (`--format xccdf`): valid against the XCCDF 1.2 schema that Debian's
openscap-common ships, read by the real `oscap` and by MITRE SAF (Heimdall's reader), with
identifiers and waivers where the schema puts them."""

from __future__ import annotations

import html
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from conftest import ROOTS, SAMPLES, assert_clean_error, run
from factories import policy_file, rule_toml

from nsaudit.model.identifiers import XCCDF_SEVERITY
from nsaudit.render.xccdf import RESULT

XSD = Path("/usr/share/openscap/schemas/xccdf/1.2/xccdf_1.2.xsd")
NS = {"x": "http://checklists.nist.gov/xccdf/1.2"}
STIG = SAMPLES / "policies" / "stig-user-namespaces.toml"
RULE = "xccdf_org.nsaudit_rule_"


def schema_at(path: Path, package: str) -> Any:
    if not path.exists():
        pytest.skip(f"needs {package} ({path.name}; .ci/run installs it)")
    import xmlschema

    return xmlschema.XMLSchema(str(path))


def tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"needs {name} ({package}; .ci/run installs it)")
    return found


@pytest.fixture(scope="session")
def xccdf_schema() -> Any:
    return schema_at(XSD, "Debian's openscap-common")


@pytest.fixture(scope="session")
def oscap() -> str:
    return tool("oscap", "Debian's openscap-scanner")


@pytest.fixture(scope="session")
def saf() -> str:
    return tool("saf", "MITRE SAF, npm's @mitre/saf")


def oscap_reads(oscap: str, *args: str | Path) -> str:
    """What the real oscap prints for these arguments; it must succeed."""
    proc = subprocess.run([oscap, *map(str, args)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def xccdf(*args: str | Path) -> str:
    proc = run(*args, "--format", "xccdf")
    assert proc.returncode in (0, 1), proc.stderr
    assert proc.stderr == ""
    return proc.stdout


def rule_result(text: str, rule: str) -> ET.Element:
    found = ET.fromstring(text).find(f".//x:rule-result[@idref='{RULE}{rule}']", NS)
    assert found is not None, rule
    return found


def test_a_stig_check_is_valid_xccdf_with_its_identifiers(xccdf_schema: Any) -> None:
    text = xccdf("check", "--root", ROOTS / "stig-userns-conflict", "--policy", STIG)
    xccdf_schema.validate(text)
    rr = rule_result(text, "RHEL-09-213105")
    assert rr.findtext("x:result", namespaces=NS) == "fail"
    assert rr.get("severity") == "medium"
    idents = [(i.get("system"), i.text) for i in rr.findall("x:ident", NS)]
    assert ("https://ncp.nist.gov/cce", "CCE-83956-3") in idents
    assert ("http://cyber.mil/cci", "CCI-000366") in idents
    assert ("urn:nsaudit:ident:stig-vuln", "V-257816") in idents
    messages = [m.text or "" for m in rr.findall("x:message", NS)]
    assert messages[0].startswith("conflicting boot-time values")
    assert any("10-rootless-containers.conf:1 sets user.max_user_namespaces = 28633" in m
               for m in messages)  # fmt: skip
    root = ET.fromstring(text)
    assert root.findtext("x:TestResult/x:target", namespaces=NS) == "conflict.example.org"
    test = root.find("x:TestResult", NS)
    assert test is not None and test.get("start-time", "~") <= test.get("end-time", "")
    facts = {f.get("name"): f.text for f in root.findall(".//x:fact", NS)}
    assert facts["urn:xccdf:fact:asset:identifier:machine_id"] == (
        (ROOTS / "stig-userns-conflict/etc/machine-id").read_text().strip()
    )


def test_not_applicable_is_xccdfs_notapplicable(xccdf_schema: Any) -> None:
    text = xccdf("check", "--root", ROOTS / "stig-userns-container-host", "--policy", STIG)
    xccdf_schema.validate(text)
    rr = rule_result(text, "RHEL-08-040284")
    assert rr.findtext("x:result", namespaces=NS) == "notapplicable"


def test_a_waiver_is_an_override_with_its_authority_and_both_results(
    tmp_path: Path, xccdf_schema: Any
) -> None:
    waiver = (
        '\n[[rule.waiver]]\nhosts = ["not-persisted.*"]\nreason = "ISSO ticket 42"\n'
        'expires = 2999-01-01\napproved_by = "ISSO"\n'
    )
    path = policy_file(
        tmp_path / "p.toml",
        rule_toml(
            "RHEL-09-213105",
            '{ kind = "sysctl", name = "user.max_user_namespaces", equals = 0, persisted = true }',
            'identifiers = { cce = "CCE-83956-3" }\n' + waiver,
        ),
    )
    text = xccdf("check", "--root", ROOTS / "stig-userns-not-persisted", "--policy", path)
    xccdf_schema.validate(text)
    rr = rule_result(text, "RHEL-09-213105")
    assert rr.findtext("x:result", namespaces=NS) == "pass"
    override = rr.find("x:override", NS)
    assert override is not None
    assert override.get("authority") == "ISSO"
    assert override.findtext("x:old-result", namespaces=NS) == "fail"
    assert override.findtext("x:new-result", namespaces=NS) == "pass"
    assert override.findtext("x:remark", namespaces=NS) == (
        "waived for not-persisted.* until 2999-01-01: ISSO ticket 42"
    )


def test_oscap_reads_the_result_and_writes_its_report(
    tmp_path: Path, oscap: str, xccdf_schema: Any
) -> None:
    results = tmp_path / "results.xml"
    results.write_text(xccdf("check", "--root", ROOTS / "stig-userns-conflict", "--policy", STIG))
    oscap_reads(oscap, "xccdf", "validate", results)
    report = oscap_reads(oscap, "xccdf", "generate", "report", results)
    assert "xccdf_org.nsaudit_rule_RHEL-09-213105" in report
    assert "CCE-83956-3" in report
    assert "conflict.example.org" in report


def test_a_fleet_report_has_a_test_result_per_host(tmp_path: Path, xccdf_schema: Any) -> None:
    db = tmp_path / "fleet.db"
    for root in ("stig-userns-conflict", "stig-userns-persisted"):
        proc = run("audit", "--root", ROOTS / root, "--db", db, "--policy", STIG)
        assert proc.returncode in (0, 1), proc.stderr
    text = xccdf("report", "--all-hosts", "--db", db, "--policy", STIG)
    xccdf_schema.validate(text)
    tests = ET.fromstring(text).findall("x:TestResult", NS)
    assert sorted(t.findtext("x:target", namespaces=NS) or "" for t in tests) == [
        "conflict.example.org",
        "persisted.example.org",
    ]
    # A file per host, for tools that take one host per file.
    folder = tmp_path / "per-host"
    folder.mkdir()
    proc = run("report", "--all-hosts", "--db", db, "--policy", STIG, "--format", "xccdf",
               "--per-host", folder, "-o", tmp_path / "all.xml")  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    files = sorted(folder.iterdir())
    machine = (ROOTS / "stig-userns-conflict/etc/machine-id").read_text()[:8]
    assert files[0].name == f"conflict.example.org-{machine}.xccdf.xml"
    assert len(files) == 2
    for path in files:
        xccdf_schema.validate(path.read_text())
        (one,) = ET.fromstring(path.read_text()).findall("x:TestResult", NS)
        assert path.name.startswith(one.findtext("x:target", namespaces=NS) or "?")


def test_a_host_file_name_cannot_leave_its_folder() -> None:
    from nsaudit.cli.report import host_file
    from nsaudit.model import HostInfo
    from nsaudit.render import OutputFormat

    host = HostInfo("../../etc/pass wd\x1b", "AB12cd34ef", None, None)
    assert host_file(host, OutputFormat.XCCDF) == "_.._etc_pass_wd_-ab12cd34.xccdf.xml"


def test_untrusted_text_is_escaped_in_xml(tmp_path: Path, xccdf_schema: Any) -> None:
    root = tmp_path / "r"
    shutil.copytree(ROOTS / "stig-userns-persisted", root, symlinks=True)
    (root / "proc/sys/kernel/hostname").write_text("<h>&\x1b[31m</h>\n")
    text = xccdf("check", "--root", root, "--policy", STIG)
    xccdf_schema.validate(text)
    assert ET.fromstring(text).findtext("x:TestResult/x:target", namespaces=NS) == (
        "<h>&\\x1b[31m</h>"
    )


def test_a_report_without_a_policy_cannot_be_xccdf(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    assert run("audit", "--root", ROOTS / "stig-userns-persisted", "--db", db).returncode in (0, 1)
    proc = run("report", "--all-hosts", "--db", db, "--format", "xccdf")
    assert proc.returncode == 2
    assert "policy" in proc.stderr


ARF_XSD = Path("/usr/share/openscap/schemas/arf/1.1/asset-reporting-format_1.1.0.xsd")
ARF_NS = {"arf": "http://scap.nist.gov/schema/asset-reporting-format/1.1",
          "ai": "http://scap.nist.gov/schema/asset-identification/1.1",
          "core": "http://scap.nist.gov/schema/reporting-core/1.1",
          "ds": "http://scap.nist.gov/schema/scap/source/1.2", **NS}  # fmt: skip


@pytest.fixture(scope="session")
def arf_schema() -> Any:
    return schema_at(ARF_XSD, "Debian's openscap-common")


def test_arf_wraps_the_same_results_as_oscap_does_and_oscap_reads_it(
    tmp_path: Path, oscap: str, arf_schema: Any
) -> None:
    text = run("check", "--root", ROOTS / "stig-userns-conflict", "--policy", STIG,
               "--format", "arf").stdout  # fmt: skip
    arf_schema.validate(text)
    root = ET.fromstring(text)
    assert root.findtext(".//ai:hostname", namespaces=ARF_NS) == "conflict.example.org"
    # The policy is the request, in a source data stream; the report is the host's TestResult.
    request = "arf:report-requests/arf:report-request/arf:content/ds:data-stream-collection"
    (bench,) = root.findall(f"{request}/ds:component/x:Benchmark", ARF_NS)
    assert bench.find("x:TestResult", NS) is None
    (test,) = root.findall("arf:reports/arf:report/arf:content/x:TestResult", ARF_NS)
    same = ET.fromstring(xccdf("check", "--root", ROOTS / "stig-userns-conflict", "--policy", STIG))
    assert [r.get("idref") for r in test.iter(f"{{{NS['x']}}}rule-result")] == [
        r.get("idref") for r in same.iter(f"{{{NS['x']}}}rule-result")
    ]
    assert [r.get("id") for r in bench.iter(f"{{{NS['x']}}}Rule")] == [
        r.get("id") for r in same.iter(f"{{{NS['x']}}}Rule")
    ]
    path = tmp_path / "results-arf.xml"
    path.write_text(text)
    oscap_reads(oscap, "ds", "rds-validate", path)
    info = oscap_reads(oscap, "info", path)
    assert "Report request: collection1" in info
    assert "Source benchmark: #scap_org.nsaudit_comp_stig-user-namespaces" in info
    assert "CCE-83956-3" in oscap_reads(oscap, "xccdf", "generate", "report", path)


def test_a_fleet_arf_has_an_asset_and_a_report_per_host(
    tmp_path: Path, oscap: str, arf_schema: Any
) -> None:
    db = tmp_path / "fleet.db"
    for name in ("stig-userns-conflict", "stig-userns-persisted"):
        assert run("audit", "--root", ROOTS / name, "--db", db, "--policy", STIG).returncode < 2
    text = run("report", "--all-hosts", "--db", db, "--policy", STIG, "--format", "arf").stdout
    arf_schema.validate(text)
    root = ET.fromstring(text)
    about = {
        r.get("subject"): r.findtext("core:ref", namespaces=ARF_NS)
        for r in root.iterfind("core:relationships/core:relationship", ARF_NS)
        if r.get("type") == "arfvocab:isAbout"
    }
    hosts = {a.get("id"): a.findtext(".//ai:hostname", namespaces=ARF_NS)
             for a in root.iterfind("arf:assets/arf:asset", ARF_NS)}  # fmt: skip
    targets = {
        r.get("id"): r.findtext("arf:content/x:TestResult/x:target", namespaces=ARF_NS)
        for r in root.iterfind("arf:reports/arf:report", ARF_NS)
    }
    assert sorted(targets.values()) == ["conflict.example.org", "persisted.example.org"]
    assert all(hosts[about[report]] == target for report, target in targets.items())
    path = tmp_path / "fleet-arf.xml"
    path.write_text(text)
    oscap_reads(oscap, "ds", "rds-validate", path)


def test_per_host_needs_an_existing_folder_and_writes_nothing_else(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    assert run("audit", "--root", ROOTS / "stig-userns-persisted", "--db", db).returncode in (0, 1)
    before = db.read_bytes()
    proc = run("report", "--all-hosts", "--db", db, "--policy", STIG, "--format", "xccdf",
               "--per-host", tmp_path / "none", "-o", tmp_path / "all.xml")  # fmt: skip
    assert_clean_error(proc, 2, "--per-host", "not a directory; create it first")
    assert not (tmp_path / "all.xml").exists() and not (tmp_path / "none").exists()
    assert db.read_bytes() == before


# What MITRE SAF makes of each XCCDF result (its getStatus), for Heimdall and its checklists.
SAF_STATUS = {"pass": "passed", "fail": "failed", "error": "error", "notapplicable": "skipped",
              "informational": "skipped"}  # fmt: skip


@pytest.mark.parametrize(
    ("root", "rule", "status"),
    [("stig-userns-conflict", "RHEL-09-213105", "failed"),
     ("stig-userns-container-host", "RHEL-08-040284", "skipped")],
)  # fmt: skip
def test_mitre_saf_reads_every_rule_with_its_result_and_identifiers(
    tmp_path: Path, saf: str, root: str, rule: str, status: str
) -> None:
    results = tmp_path / "results.xml"
    results.write_text(xccdf("check", "--root", ROOTS / root, "--policy", STIG))
    hdf = tmp_path / "results-hdf.json"
    proc = subprocess.run([saf, "convert", "xccdf_results2hdf", "-i", results, "-o", hdf],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)  # fmt: skip
    # SAF exits 0 even when its reader fails, so the file it writes is what tells.
    assert proc.returncode == 0 and hdf.exists(), proc.stdout + proc.stderr
    (profile,) = json.loads(hdf.read_text())["profiles"]
    controls = {c["id"].removeprefix(RULE): c for c in profile["controls"]}
    ours = json.loads(run("check", "--root", ROOTS / root, "--policy", STIG, "--format", "json"
                          ).stdout)["results"]  # fmt: skip
    assert list(controls) == [r["id"] for r in ours]
    text = results.read_text()
    for r in ours:
        control = controls[r["id"]]
        result = rule_result(text, r["id"]).findtext("x:result", namespaces=NS) or ""
        assert [x["status"] for x in control["results"]] == [SAF_STATUS[result]], r["id"]
        idents = control["tags"].get("ident") or []
        idents = idents if isinstance(idents, list) else [idents]
        assert sorted(i["text"] for i in idents) == sorted(
            v for values in r["identifiers"].values() for v in values
        )
        assert control["tags"]["cci"] == r["identifiers"].get("cci", [])
        assert control["tags"]["severity"] == XCCDF_SEVERITY[r["severity"]]
    assert controls[rule]["results"][0]["status"] == status


@pytest.mark.parametrize("fmt", ["xccdf", "arf"])
def test_openscaps_python_reader_reads_every_rule_with_its_evidence(
    tmp_path: Path, fmt: str
) -> None:
    """openscap-report (OpenSCAP's reader in Python, apart from the oscap tool) reads each rule's
    result, identifiers, description and messages, and the target, as the JSON holds them."""
    args = ("check", "--root", ROOTS / "stig-userns-conflict", "--policy", STIG)
    results = tmp_path / f"results.{fmt}.xml"
    results.write_text(run(*args, "--format", fmt).stdout)
    read = tmp_path / "read.json"
    reader = Path(sys.executable).parent / "oscap-report"
    proc = subprocess.run([reader, "-f", "JSON-EVERYTHING", "-o", read, results],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0 and read.exists(), proc.stderr
    doc = json.loads(read.read_text())
    assert doc["scan_result"]["target"] == "conflict.example.org"
    rules = doc["rules"]
    ours = json.loads(run(*args, "--format", "json").stdout)["results"]
    assert [r.removeprefix(RULE) for r in rules] == [r["id"] for r in ours]
    for r in ours:
        got = rules[RULE + r["id"]]
        assert got["result"] == RESULT[r["outcome"]]
        assert got["title"] == r["title"]
        # It holds the description as HTML, as XCCDF allows: escaped, for its page.
        assert html.unescape(got["description"]) == (r["description"] or "")
        assert sorted(i["text"] for i in got["identifiers"]) == sorted(
            v for values in r["identifiers"].values() for v in values
        )
        assert got["messages"] == [r["summary"], *(e["text"] for e in r["evidence"])]
