"""The identifiers a policy's rule carries (CCE, CCI, SRG, STIG, CIS, NIST SP 800-53), each
family with its spelling and the XCCDF ident system it is written under; and severity in
XCCDF's words. nsaudit/policy/identifiers.py reads them from a policy file."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    key: str  # as a policy file spells it
    label: str  # as reports name it
    pattern: re.Pattern[str]
    example: str
    system: str  # XCCDF <ident system="...">


FAMILIES = (
    Family("cce", "CCE", re.compile(r"CCE-\d{4,5}-\d"), "CCE-83956-3", "https://ncp.nist.gov/cce"),
    Family("cci", "CCI", re.compile(r"CCI-\d{6}"), "CCI-000366", "http://cyber.mil/cci"),
    Family(
        "srg",
        "SRG",
        re.compile(r"SRG-[A-Z]+-\d{6}(-[A-Z]+-\d{5})?"),
        "SRG-OS-000480-GPOS-00227",
        "https://public.cyber.mil/stigs/srg-stig-tools/",
    ),
    Family(
        "stig",
        "STIG ID",
        re.compile(r"[A-Z][A-Z0-9]*-\d{2}-\d{6}"),
        "RHEL-09-213105",
        "https://public.cyber.mil/stigs/downloads/",
    ),
    # DISA's own XCCDF has these two as Group and Rule ids, not idents: no registered system.
    Family("vuln", "Vul ID", re.compile(r"V-\d+"), "V-257816", "urn:nsaudit:ident:stig-vuln"),
    Family(
        "stig_rule",
        "Rule ID",
        re.compile(r"SV-\d+r\d+_rule"),
        "SV-257816r942981_rule",
        "urn:nsaudit:ident:stig-rule",
    ),
    Family(
        "cis",
        "CIS",
        re.compile(r"\S.*\b\d+(\.\d+)+"),
        "Bottlerocket 1.4.4",
        "https://www.cisecurity.org/cis-benchmarks/",
    ),
    Family(
        "nist",
        "NIST 800-53",
        re.compile(r"[A-Z]{2}-\d+( ?\(\d+\))*( ?[a-z](\.\d+)?)?"),
        "CM-6 b",
        "https://doi.org/10.6028/NIST.SP.800-53r5",
    ),
)
BY_KEY = {f.key: f for f in FAMILIES}

# XCCDF's severities (info, low, medium, high); critical has none above high. STIG's
# categories are high (CAT I), medium (CAT II) and low (CAT III).
XCCDF_SEVERITY = {
    "info": "info",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "critical": "high",
}


def grouped(identifiers: tuple[tuple[str, str], ...]) -> dict[str, list[str]]:
    """{family: [values]} in FAMILIES order, as JSON carries them."""
    out: dict[str, list[str]] = {}
    for key, value in identifiers:
        out.setdefault(key, []).append(value)
    return out


def text(identifiers: tuple[tuple[str, str], ...]) -> str:
    """One line for a table or CSV cell: CCE-83956-3, CCI-000366, SRG-OS-..."""
    return ", ".join(value for _, value in identifiers)
