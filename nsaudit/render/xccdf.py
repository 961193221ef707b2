"""XCCDF 1.2 results, as `oscap xccdf eval --results` writes them: a Benchmark with the policy's
rules and a TestResult per host, for OpenSCAP, SCAP Workbench, DefectDojo and Heimdall.

Each Rule sits in a Group of its own, as in DISA's STIG benchmarks (a Group per Vul ID) and
ComplianceAsCode's: MITRE SAF and Heimdall read the rules from the Groups and see none that a
Benchmark holds directly.

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
    bench = rules_of(payload)
    for n, host in enumerate(hosts_of(payload), 1):
        bench.append(host_results(payload["policy"], host, n))
    return bench


def rules_of(payload: Mapping[str, Any]) -> ET.Element:
    """The Benchmark without results: the policy, a Group and Rule per rule."""
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
    _sub(bench, "status", "accepted", date=_when(payload)[:10])
    _sub(bench, "title", policy["title"])
    _sub(bench, "description", f"nsaudit policy {policy['name']} ({policy['source']})")
    _sub(bench, "version", policy["sha256"][:12])
    _sub(bench, "metadata").append(_creator())
    for r in every[0]["results"] if every else []:
        _rule(bench, r)
    return bench


def _when(payload: Mapping[str, Any]) -> str:
    """When the results are from: the check, or the end of the report's period."""
    return str(payload["checked_at"] if "hosts" not in payload else payload["period"]["until"])


def _creator() -> ET.Element:
    element = ET.Element("{http://purl.org/dc/elements/1.1/}creator")
    element.text = f"nsaudit {__version__}"
    return element


def _rule(bench: ET.Element, r: Mapping[str, Any]) -> None:
    group = _sub(bench, "Group", id=f"xccdf_{ORG}_group_{r['id']}")
    _sub(group, "title", r["id"])
    rule = _sub(
        group,
        "Rule",
        id=rule_id(r["id"]),
        selected="true",
        severity=XCCDF_SEVERITY[r["severity"]],
    )
    _sub(rule, "title", r["title"])
    if r["description"]:
        _sub(rule, "description", r["description"])
    for ref in r["references"]:
        _reference(rule, ref)
    _idents(rule, r)


def _reference(rule: ET.Element, text: str) -> None:
    """A reference, with its address as `href` when it is one, as ComplianceAsCode writes them.
    `override="false"` is XCCDF's default, written out because MITRE SAF's reader (1.5.3)
    fails on a reference with no attribute in a rule with no ident (mitre/saf#1183)."""
    url = text if text.startswith(("https://", "http://")) else None
    _sub(rule, "reference", text, override="false", **({"href": url} if url else {}))


def _idents(parent: ET.Element, r: Mapping[str, Any]) -> None:
    for family, values in r["identifiers"].items():
        for value in values:
            _sub(parent, "ident", value, system=BY_KEY[family].system)


def host_results(
    policy: Mapping[str, Any], host: Mapping[str, Any], n: int, source: str = "#"
) -> ET.Element:
    """A host's TestResult; `source` is where its Benchmark is (`#`: this document)."""
    test = ET.Element(
        _q("TestResult"),
        {
            "id": f"xccdf_{ORG}_testresult_{policy['name']}-{n}",
            "start-time": _to_second(host["started"]),
            "end-time": host["ended"],
            "version": policy["sha256"][:12],
            "test-system": f"cpe:/a:nsaudit:nsaudit:{__version__}",
        },
    )
    _sub(test, "benchmark", href=source, id=f"xccdf_{ORG}_benchmark_{policy['name']}")
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
    return test


def _to_second(time: str) -> str:
    """A time to the second, as the end time is, so that the start never falls after it."""
    head, dot, rest = time.partition(".")
    return head + rest.lstrip("0123456789") if dot else time


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
DS = "http://scap.nist.gov/schema/scap/source/1.2"
XLINK = "http://www.w3.org/1999/xlink"
VOCABULARY = "http://scap.nist.gov/specifications/arf/vocabulary/relationships/1.0#"


class ArfFormat:
    """The same results in SCAP's Asset Reporting Format (ARF 1.1), shaped as `oscap xccdf eval
    --results-arf` writes it: the policy's Benchmark as the request (in a source data stream),
    an asset per host (its host name), and a report per host holding its TestResult, related to
    both (`createdFor` the request, `isAbout` the asset)."""

    def render(self, doc: Document) -> str:
        for prefix, uri in (("", NS), ("arf", ARF), ("core", CORE), ("ai", AI), ("ds", DS),
                            ("xlink", XLINK)):  # fmt: skip
            ET.register_namespace(prefix, uri)
        payload: Mapping[str, Any] = doc.payload
        policy = payload["policy"]
        root = ET.Element(f"{{{ARF}}}asset-report-collection")
        # The relationship's type is a QName of ARF's vocabulary: its prefix is declared here.
        root.set("xmlns:arfvocab", VOCABULARY)
        relations = ET.SubElement(root, f"{{{CORE}}}relationships")
        requests = ET.SubElement(root, f"{{{ARF}}}report-requests")
        request = ET.SubElement(requests, f"{{{ARF}}}report-request", id="collection1")
        ET.SubElement(request, f"{{{ARF}}}content").append(_data_stream(payload))
        assets = ET.SubElement(root, f"{{{ARF}}}assets")
        reports = ET.SubElement(root, f"{{{ARF}}}reports")
        for n, host in enumerate(hosts_of(payload), 1):
            report_id, asset_id = f"xccdf{n}", f"asset{n}"
            for kind, ref in (("createdFor", "collection1"), ("isAbout", asset_id)):
                relation = ET.SubElement(relations, f"{{{CORE}}}relationship",
                                         type=f"arfvocab:{kind}", subject=report_id)  # fmt: skip
                ET.SubElement(relation, f"{{{CORE}}}ref").text = ref
            asset = ET.SubElement(assets, f"{{{ARF}}}asset", id=asset_id)
            device = ET.SubElement(asset, f"{{{AI}}}computing-device")
            ET.SubElement(device, f"{{{AI}}}hostname").text = _hostname(host["hostname"])
            report = ET.SubElement(reports, f"{{{ARF}}}report", id=report_id)
            content = ET.SubElement(report, f"{{{ARF}}}content")
            content.append(host_results(policy, host, n, f"#{_component(policy['name'])}"))
        return _xml(root)


def _data_stream(payload: Mapping[str, Any]) -> ET.Element:
    """A SCAP 1.2 source data stream with the Benchmark as its one checklist, as oscap wraps a
    plain XCCDF file it evaluates."""
    name = payload["policy"]["name"]
    collection = ET.Element(
        f"{{{DS}}}data-stream-collection",
        {"id": f"scap_{ORG}_collection_{name}", "schematron-version": "1.2"},
    )
    stream = ET.SubElement(
        collection,
        f"{{{DS}}}data-stream",
        {"id": f"scap_{ORG}_datastream_{name}", "scap-version": "1.2", "use-case": "OTHER"},
    )
    ET.SubElement(
        ET.SubElement(stream, f"{{{DS}}}checklists"),
        f"{{{DS}}}component-ref",
        {"id": f"scap_{ORG}_cref_{name}", f"{{{XLINK}}}href": f"#{_component(name)}"},
    )
    component = ET.SubElement(
        collection,
        f"{{{DS}}}component",
        {"id": _component(name), "timestamp": _when(payload)},
    )
    component.append(rules_of(payload))
    return collection


def _component(policy: str) -> str:
    """The id of the data stream's component that holds the policy's Benchmark."""
    return f"scap_{ORG}_comp_{policy}"


def _hostname(name: str) -> str:
    """ARF's hostname is a host name's syntax: anything else is named by the XCCDF target."""
    escaped = xml_text(name)
    return escaped if all(c.isalnum() or c in ".-" for c in escaped) and escaped else "unknown"
