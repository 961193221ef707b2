"""The small frozen values that travel between nsaudit's parts, one module a vocabulary:
kernel.py     the kernel's vocabulary: types, statuses, the capability report
inventory.py  namespaces, their holders, containers, hosts, snapshots
rows.py       what the store answers: saves, list lines, history
results.py    a policy's results: outcomes, evidence, waivers, stored runs
identifiers.py  the identifier families rules carry (CCE, CCI, STIG, ...), XCCDF's words
events.py     what `nsaudit watch` records between snapshots
columns.py    how a record declares its fields once

Every name is imported from here: `from nsaudit.model import Namespace`."""

from nsaudit.model.columns import column
from nsaudit.model.events import (
    EVENT_KINDS,
    INITIAL_USERNS_INODE,
    MECHANISMS,
    CarriedEvent,
    CarriedExit,
    CarriedRun,
    NamespaceEvent,
    Unwatched,
    Watched,
    WatchRun,
    WatchTotals,
)
from nsaudit.model.inventory import (
    SHIMS,
    UNSEEN,
    Container,
    Holder,
    HolderKind,
    HostInfo,
    Namespace,
    NamespaceId,
    ScanProblem,
    Snapshot,
)
from nsaudit.model.kernel import (
    NS_TYPE_NAMES,
    Access,
    Answer,
    Capabilities,
    CapabilityReport,
    KconfigOption,
    KconfigSource,
    NsType,
    PersistedSysctls,
    ProbeResult,
    ProbeRun,
    Restriction,
    Status,
    SysctlSetting,
    TypeCapability,
    Unprivileged,
    UsernsProfile,
)
from nsaudit.model.results import EvaluationRecord, Evidence, Outcome, RuleResult, WaiverNote
from nsaudit.model.rows import HistoryPoint, HostRow, Saved, SnapshotRow, Step

__all__ = [
    "EVENT_KINDS",
    "INITIAL_USERNS_INODE",
    "MECHANISMS",
    "CarriedEvent",
    "CarriedExit",
    "CarriedRun",
    "NamespaceEvent",
    "Unwatched",
    "Watched",
    "WatchRun",
    "WatchTotals",
    "NS_TYPE_NAMES",
    "Access",
    "Answer",
    "Capabilities",
    "CapabilityReport",
    "Container",
    "EvaluationRecord",
    "Evidence",
    "HistoryPoint",
    "Holder",
    "HolderKind",
    "HostInfo",
    "HostRow",
    "KconfigOption",
    "KconfigSource",
    "Namespace",
    "NamespaceId",
    "NsType",
    "Outcome",
    "PersistedSysctls",
    "ProbeResult",
    "ProbeRun",
    "Restriction",
    "SHIMS",
    "RuleResult",
    "Saved",
    "ScanProblem",
    "Snapshot",
    "SnapshotRow",
    "Status",
    "Step",
    "SysctlSetting",
    "TypeCapability",
    "UNSEEN",
    "Unprivileged",
    "UsernsProfile",
    "WaiverNote",
    "column",
]
