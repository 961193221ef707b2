"""XCCDF 1.2 results, as `oscap xccdf eval --results` writes them: a Benchmark with the policy's
rules and a TestResult per host, for OpenSCAP, SCAP Workbench, DefectDojo and Heimdall.

Built from the check or report payload (nsaudit.check/1, nsaudit.report/1), so it carries
exactly what the JSON does. Waivers are XCCDF overrides (the STIG's "documented with the ISSO,
not a finding"); a rule that does not apply is `notapplicable`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree as ET

from nsaudit import __version__
from nsaudit.model.identifiers import BY_KEY, XCCDF_SEVERITY
from nsaudit.render.document import Document
from nsaudit.render.escape import xml_text

NS = "http://checklists.nist.gov/xccdf/1.2"
ORG = "org.nsaudit"  # the reverse-DNS part of every XCCDF 1.2 id
RESULT = {
    "pass": "pass",
    "fail": "fail",
    "error": "error",
    "skip": "notapplicable",
    "waived": "pass",  # the override beside it keeps the result it set aside
    "informational": "informational",
}
SCORED = ("pass", "fail", "error", "unknown")  # the flat model's denominator


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, _q(tag), attrs)
    if text is not None:
        element.text = xml_text(text)
    return element


def rule_id(rule: str) -> str:
    return f"xccdf_{ORG}_rule_{rule}"


class XccdfFormat:
    def render(self, doc: Document) -> str:
        ET.register_namespace("", NS)
        return _xml(benchmark(doc.payload))


def _xml(root: ET.Element) -> str:
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def hosts_of(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each host's results as the check payload holds them: one for a check, each host with
    results for a report."""
    if "hosts" not in payload:
        return [
            {
                "hostname": payload["host"]["hostname"],
                "machine_id": payload["host"]["machine_id"],
                "kernel": None,
                "started": payload["snapshot"]["taken_at"],
                "ended": payload["checked_at"],
                "results": payload["results"],
            }
        ]
    until = payload["period"]["until"]
    return [
        {
            "hostname": h["hostname"],
            "machine_id": h["machine_id"],
            "kernel": h["snapshot"]["kernel"],
            "started": h["snapshot"]["taken_at"],
            "ended": until,
            "results": h["results"],
        }
        for h in payload["hosts"]
        if h["results"] is not None
    ]


def benchmark(payload: Mapping[str, Any]) -> ET.Element:
    """The Benchmark: the policy's rules, then a TestResult for each host."""
    policy = payload["policy"]
    every = hosts_of(payload)
    bench = ET.Element(
        _q("Benchmark"),
        {
            "id": f"xccdf_{ORG}_benchmark_{policy['name']}",
            "resolved": "1",
            "{http://www.w3.org/XML/1998/namespace}lang": "en",
        },
    )
    day = (every[0]["ended"] if every else payload.get("checked_at", ""))[:10]
    _sub(bench, "status", "accepted", **({"date": day} if day else {}))
    _sub(bench, "title", policy["title"])
    _sub(bench, "description", f"nsaudit policy {policy['name']} ({policy['source']})")
    _sub(bench, "version", policy["sha256"][:12])
    _sub(bench, "metadata").append(_creator())
    rules = every[0]["results"] if every else []
    for r in rules:
        _rule(bench, r)
    for n, host in enumerate(every, 1):
        _test_result(bench, policy, host, n)
    return bench


def _creator() -> ET.Element:
    element = ET.Element("{http://purl.org/dc/elements/1.1/}creator")
    element.text = f"nsaudit {__version__}"
    return element


def _rule(bench: ET.Element, r: Mapping[str, Any]) -> None:
    rule = _sub(
        bench,
        "Rule",
        id=rule_id(r["id"]),
        selected="true",
        severity=XCCDF_SEVERITY[r["severity"]],
    )
    _sub(rule, "title", r["title"])
    for ref in r["references"]:
        _sub(rule, "reference", ref)
    _idents(rule, r)


def _idents(parent: ET.Element, r: Mapping[str, Any]) -> None:
    for family, values in r["identifiers"].items():
        for value in values:
            _sub(parent, "ident", value, system=BY_KEY[family].system)


def _test_result(
    bench: ET.Element, policy: Mapping[str, Any], host: Mapping[str, Any], n: int
) -> None:
    test = _sub(
        bench,
        "TestResult",
        id=f"xccdf_{ORG}_testresult_{policy['name']}-{n}",
        **{"start-time": host["started"], "end-time": host["ended"]},
        version=policy["sha256"][:12],
        **{"test-system": f"cpe:/a:nsaudit:nsaudit:{__version__}"},
    )
    _sub(test, "benchmark", href="#", id=f"xccdf_{ORG}_benchmark_{policy['name']}")
    _sub(test, "title", f"nsaudit check of {policy['name']} on {host['hostname']}")
    _sub(test, "target", host["hostname"])
    facts = _sub(test, "target-facts")
    _fact(facts, "urn:xccdf:fact:asset:identifier:host_name", host["hostname"])
    if host["machine_id"]:
        _fact(facts, "urn:xccdf:fact:asset:identifier:machine_id", host["machine_id"])
    if host["kernel"]:
        _fact(facts, "urn:xccdf:fact:asset:os:kernel_release", host["kernel"])
    scored = passed = 0
    for r in host["results"]:
        result = RESULT[r["outcome"]]
        scored += result in SCORED
        passed += result == "pass"
        _rule_result(test, r, result, host["ended"])
    _sub(test, "score", f"{100 * passed / scored if scored else 0:.2f}",
         system="urn:xccdf:scoring:flat-unweighted", maximum="100")  # fmt: skip


def _fact(facts: ET.Element, name: str, value: str) -> None:
    _sub(facts, "fact", value, name=name, type="string")


def _rule_result(test: ET.Element, r: Mapping[str, Any], result: str, when: str) -> None:
    rr = _sub(
        test,
        "rule-result",
        idref=rule_id(r["id"]),
        severity=XCCDF_SEVERITY[r["severity"]],
        time=when,
        weight="1.0",
    )
    _sub(rr, "result", result)
    waiver = r["waiver"]
    if waiver is not None and not waiver["expired"]:
        override = _sub(
            rr, "override", time=when, authority=waiver["approved_by"] or "nsaudit policy"
        )
        _sub(override, "old-result", RESULT.get(waiver.get("set_aside") or "fail", "fail"))
        _sub(override, "new-result", result)
        hosts = ", ".join(waiver["hosts"])
        _sub(
            override, "remark", f"waived for {hosts} until {waiver['expires']}: {waiver['reason']}"
        )
    _idents(rr, r)
    _sub(rr, "message", r["summary"], severity="info")
    for e in r["evidence"]:
        _sub(rr, "message", e["text"], severity="info")
    if waiver is not None and waiver["expired"]:
        _sub(
            rr,
            "message",
            f"waiver for {', '.join(waiver['hosts'])} expired on {waiver['expires']}, so it "
            f"no longer applies: {waiver['reason']}",
            severity="warning",
        )


ARF = "http://scap.nist.gov/schema/asset-reporting-format/1.1"
CORE = "http://scap.nist.gov/schema/reporting-core/1.1"
AI = "http://scap.nist.gov/schema/asset-identification/1.1"
VOCABULARY = "http://scap.nist.gov/specifications/arf/vocabulary/relationships/1.0#"


class ArfFormat:
    """The same results in SCAP's Asset Reporting Format (ARF 1.1), as `oscap xccdf eval
    --results-arf` wraps them: an asset per host (its host name), the XCCDF results as the
    report, and a relationship saying the report is about the assets."""

    def render(self, doc: Document) -> str:
        for prefix, uri in (("", NS), ("arf", ARF), ("core", CORE), ("ai", AI)):
            ET.register_namespace(prefix, uri)
        hosts = hosts_of(doc.payload)
        root = ET.Element(f"{{{ARF}}}asset-report-collection")
        # The relationship's type is a QName of ARF's vocabulary: its prefix is declared here.
        root.set("xmlns:arfvocab", VOCABULARY)
        relations = ET.SubElement(root, f"{{{CORE}}}relationships")
        relation = ET.SubElement(
            relations,
            f"{{{CORE}}}relationship",
            {"type": "arfvocab:isAbout", "subject": "xccdf1"},
        )
        assets = ET.SubElement(root, f"{{{ARF}}}assets")
        for n, host in enumerate(hosts):
            ET.SubElement(relation, f"{{{CORE}}}ref").text = f"asset{n}"
            asset = ET.SubElement(assets, f"{{{ARF}}}asset", id=f"asset{n}")
            device = ET.SubElement(asset, f"{{{AI}}}computing-device")
            ET.SubElement(device, f"{{{AI}}}hostname").text = _hostname(host["hostname"])
        reports = ET.SubElement(root, f"{{{ARF}}}reports")
        report = ET.SubElement(reports, f"{{{ARF}}}report", id="xccdf1")
        ET.SubElement(report, f"{{{ARF}}}content").append(benchmark(doc.payload))
        return _xml(root)


def _hostname(name: str) -> str:
    """ARF's hostname is a host name's syntax: anything else is named by the XCCDF target."""
    escaped = xml_text(name)
    return escaped if all(c.isalnum() or c in ".-" for c in escaped) and escaped else "unknown"
