"""JUnit XML: a test suite per host, a test case per rule, for CI dashboards."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from nsaudit.render.document import Case, Document
from nsaudit.render.escape import xml_text as _text

# How each outcome shows in JUnit: waived and not applicable rules are skipped, missing
# evidence is an error.
_ELEMENT = {"fail": "failure", "error": "error", "waived": "skipped", "skip": "skipped"}


class JunitFormat:
    def render(self, doc: Document) -> str:
        suites: dict[str, list[Case]] = {}
        for case in doc.cases:
            suites.setdefault(case.suite, []).append(case)
        root = ET.Element("testsuites", name=_text(doc.title))
        totals = {"tests": 0, "failures": 0, "errors": 0}
        for name, cases in suites.items():
            counts = {
                "tests": len(cases),
                "failures": sum(c.outcome == "fail" for c in cases),
                "errors": sum(c.outcome == "error" for c in cases),
                "skipped": sum(c.outcome in ("waived", "skip") for c in cases),
            }
            attrs = {"name": _text(name), "hostname": _text(name), "time": "0"}
            attrs.update((k, str(v)) for k, v in counts.items())
            suite = ET.SubElement(root, "testsuite", attrs)
            for k in totals:
                totals[k] += counts[k]
            for c in cases:
                testcase = ET.SubElement(
                    suite, "testcase", name=_text(c.name), classname=_text(c.classname), time="0"
                )
                element = _ELEMENT.get(c.outcome)
                identifiers = f"identifiers: {c.identifiers}" if c.identifiers else ""
                if element is not None:
                    child = ET.SubElement(testcase, element, message=_text(c.message))
                    if element != "skipped":
                        child.set("type", c.outcome)
                    child.text = _text(c.details)
                    out = identifiers
                else:
                    out = "\n".join(x for x in (c.message, c.details, identifiers) if x)
                if out:
                    ET.SubElement(testcase, "system-out").text = _text(out)
        for k, v in totals.items():
            root.set(k, str(v))
        root.set("time", "0")
        ET.indent(root)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"
