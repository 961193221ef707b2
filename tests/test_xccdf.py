"""XCCDF 1.2 results (`--format xccdf`): valid against the XCCDF 1.2 schema that Debian's
openscap-common ships, read by the real `oscap`, with identifiers and waivers where the schema
puts them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from conftest import ROOTS, SAMPLES, assert_clean_error, run
from factories import policy_file, rule_toml

XSD = Path("/usr/share/openscap/schemas/xccdf/1.2/xccdf_1.2.xsd")
NS = {"x": "http://checklists.nist.gov/xccdf/1.2"}
STIG = SAMPLES / "policies" / "stig-user-namespaces.toml"
RULE = "xccdf_org.nsaudit_rule_"


@pytest.fixture(scope="session")
def xccdf_schema() -> Any:
    if not XSD.exists():
        pytest.skip("needs Debian's openscap-common (its XCCDF 1.2 schema; .ci/run installs it)")
    import xmlschema

    return xmlschema.XMLSchema(str(XSD))


@pytest.fixture(scope="session")
def oscap() -> str:
    found = shutil.which("oscap")
    if found is None:
        pytest.skip("needs the oscap tool (Debian's openscap-scanner; .ci/run installs it)")
    return found


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


def test_arf_wraps_the_same_results_and_oscap_reads_it(tmp_path: Path, oscap: str) -> None:
    if not ARF_XSD.exists():
        pytest.skip("needs Debian's openscap-common (its ARF 1.1 schema; .ci/run installs it)")
    import xmlschema

    text = run("check", "--root", ROOTS / "stig-userns-conflict", "--policy", STIG,
               "--format", "arf").stdout  # fmt: skip
    xmlschema.XMLSchema(str(ARF_XSD)).validate(text)
    arf = {"arf": "http://scap.nist.gov/schema/asset-reporting-format/1.1",
           "ai": "http://scap.nist.gov/schema/asset-identification/1.1", **NS}  # fmt: skip
    root = ET.fromstring(text)
    assert root.findtext(".//ai:hostname", namespaces=arf) == "conflict.example.org"
    inner = root.find("arf:reports/arf:report/arf:content/x:Benchmark", arf)
    assert inner is not None
    same = xccdf("check", "--root", ROOTS / "stig-userns-conflict", "--policy", STIG)
    assert [r.get("idref") for r in inner.iter(f"{{{NS['x']}}}rule-result")] == [
        r.get("idref") for r in ET.fromstring(same).iter(f"{{{NS['x']}}}rule-result")
    ]
    path = tmp_path / "results-arf.xml"
    path.write_text(text)
    oscap_reads(oscap, "ds", "rds-validate", path)
    assert "CCE-83956-3" in oscap_reads(oscap, "xccdf", "generate", "report", path)


def test_per_host_needs_an_existing_folder_and_writes_nothing_else(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    assert run("audit", "--root", ROOTS / "stig-userns-persisted", "--db", db).returncode in (0, 1)
    before = db.read_bytes()
    proc = run("report", "--all-hosts", "--db", db, "--policy", STIG, "--format", "xccdf",
               "--per-host", tmp_path / "none", "-o", tmp_path / "all.xml")  # fmt: skip
    assert_clean_error(proc, 2, "--per-host", "not a directory; create it first")
    assert not (tmp_path / "all.xml").exists() and not (tmp_path / "none").exists()
    assert db.read_bytes() == before
