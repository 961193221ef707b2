"""The capability report's one codec: Capabilities <-> its JSON document, schema nsaudit.detect/1
(README "JSON: nsaudit.detect/1" documents every key).

`report` makes the CapabilityReport of a fresh detection; `decode` reads a document back (from
the database or a bundle), checking every key nsaudit reads for its type and words, and keeps
the keys a later nsaudit added (not deeper than jsonshape.MAX_DEPTH), since the document is
stored whole as it was written. Each mistake raises jsonshape.Invalid naming its field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TypeVar

from nsaudit import __version__
from nsaudit import jsonshape as js
from nsaudit.model import (
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

SCHEMA = "nsaudit.detect/1"
_VIA = ("direct", "user namespace")


def report(caps: Capabilities) -> CapabilityReport:
    return CapabilityReport(caps, encode(caps))


def encode(caps: Capabilities) -> dict[str, object]:
    return {
        "schema": SCHEMA,
        "nsaudit_version": __version__,
        "root": caps.root,
        "kernel": {"release": caps.release, "source": caps.release_source},
        "kconfig": asdict(caps.kconfig) if caps.kconfig else None,
        "kconfig_tried": list(caps.kconfig_tried),
        "types": [_type_document(t) for t in caps.types],
        "restrictions": [asdict(r) for r in caps.restrictions],
        "unprivileged_userns": asdict(caps.unprivileged_userns),
        "probes": [
            {"user": p.user, "uid": p.uid, "results": [asdict(r) for r in p.results]}
            for p in caps.probes
        ],
        "warnings": list(caps.warnings),
        "persisted_sysctls": _persisted_document(caps.persisted),
        "userns_profiles": (
            [asdict(p) for p in caps.userns_profiles] if caps.userns_profiles is not None else None
        ),
    }


def _persisted_document(p: PersistedSysctls | None) -> dict[str, object] | None:
    if p is None:
        return None
    return {
        "files": list(p.files),
        "settings": [asdict(s) for s in p.settings],
        "unread": list(p.unread),
    }


def _type_document(t: TypeCapability) -> dict[str, object]:
    d = asdict(t)
    d["config"] = [{"option": o.name, "value": o.value} for o in t.config]
    return d


def decode(document: object, path: str = "capabilities") -> CapabilityReport:
    """The report a document holds; raises jsonshape.Invalid at its first mistake."""
    keys = (
        "schema",
        "nsaudit_version",
        "root",
        "kernel",
        "kconfig",
        "kconfig_tried",
        "types",
        "restrictions",
        "unprivileged_userns",
        "probes",
        "warnings",
    )
    c = _open(document, path, keys, what="nsaudit.detect/1 report")
    js.choice(c["schema"], js.at(path, "schema"), (SCHEMA,))
    js.string(c["nsaudit_version"], js.at(path, "nsaudit_version"))
    root = js.string(c["root"], js.at(path, "root"))
    where = js.at(path, "kernel")
    k = _open(c["kernel"], where, ("release", "source"))
    release = js.text(k["release"], js.at(where, "release"), null=True)
    source = js.text(k["source"], js.at(where, "source"), null=True)
    caps = Capabilities(
        root=root,
        release=release,
        release_source=source,
        kconfig=_kconfig(c["kconfig"], js.at(path, "kconfig")),
        kconfig_tried=_strings(c["kconfig_tried"], js.at(path, "kconfig_tried")),
        types=_each_type(c["types"], js.at(path, "types"), _type),
        restrictions=_restrictions(c["restrictions"], js.at(path, "restrictions")),
        unprivileged_userns=_answer(
            c["unprivileged_userns"], js.at(path, "unprivileged_userns"), Access
        ),
        probes=tuple(
            _probe(p, js.at(js.at(path, "probes"), n))
            for n, p in enumerate(js.items(c["probes"], js.at(path, "probes"), "objects"))
        ),
        warnings=_strings(c["warnings"], js.at(path, "warnings")),
        # added to nsaudit.detect/1 later: absent (None) in an older report
        persisted=_persisted(c.get("persisted_sysctls"), js.at(path, "persisted_sysctls")),
        userns_profiles=_profiles(c.get("userns_profiles"), js.at(path, "userns_profiles")),
    )
    return CapabilityReport(caps, c)


def _persisted(value: object, path: str) -> PersistedSysctls | None:
    if value is None:
        return None
    p = _open(value, path, ("files", "settings", "unread"))
    where = js.at(path, "settings")
    settings = []
    for n, item in enumerate(js.items(p["settings"], where, "objects")):
        at = js.at(where, n)
        s = _open(item, at, ("name", "value", "path", "line", "pattern"))
        settings.append(
            SysctlSetting(
                js.string(s["name"], js.at(at, "name"), empty=False),
                js.string(s["value"], js.at(at, "value")),
                js.string(s["path"], js.at(at, "path"), empty=False),
                js.integer(s["line"], js.at(at, "line"), low=1),
                js.text(s["pattern"], js.at(at, "pattern"), null=True),
            )
        )
    return PersistedSysctls(
        _strings(p["files"], js.at(path, "files")),
        tuple(settings),
        _strings(p["unread"], js.at(path, "unread")),
    )


def _profiles(value: object, path: str) -> tuple[UsernsProfile, ...] | None:
    if value is None:
        return None
    out = []
    for n, item in enumerate(js.items(value, path, "objects")):
        at = js.at(path, n)
        p = _open(item, at, ("name", "attachment", "mode", "path", "line"))
        out.append(
            UsernsProfile(
                js.string(p["name"], js.at(at, "name"), empty=False),
                js.text(p["attachment"], js.at(at, "attachment"), null=True),
                js.string(p["mode"], js.at(at, "mode"), empty=False),
                js.string(p["path"], js.at(at, "path"), empty=False),
                js.integer(p["line"], js.at(at, "line"), low=1),
            )
        )
    return tuple(out)


def _open(
    value: object, path: str, keys: tuple[str, ...], what: str = "such object of nsaudit.detect/1"
) -> dict[str, Any]:
    """An object of the report: its keys present, new keys kept (not deeply)."""
    d = js.obj(value, path, keys, open_keys=True, what=what)
    for key in d:
        if key not in keys:
            js.depth_ok(d[key], js.at(path, key))
    return d


def _strings(value: object, path: str) -> tuple[str, ...]:
    return tuple(
        js.string(s, js.at(path, n)) for n, s in enumerate(js.items(value, path, "strings"))
    )


_T = TypeVar("_T", TypeCapability, ProbeResult)


def _each_type(value: object, path: str, item: Callable[[object, str], _T]) -> tuple[_T, ...]:
    """A list with one entry for each namespace type, in any order."""
    found = [item(v, js.at(path, n)) for n, v in enumerate(js.items(value, path, "objects"))]
    js.each_once([{"type": f.type.value} for f in found], path, "type", NS_TYPE_NAMES)
    return tuple(found)


def _kconfig(value: object, path: str) -> KconfigSource | None:
    if value is None:
        return None
    kc = _open(value, path, ("path", "compressed", "release", "matches_running"))
    return KconfigSource(
        js.string(kc["path"], js.at(path, "path")),
        bool(js.flag(kc["compressed"], js.at(path, "compressed"))),
        js.text(kc["release"], js.at(path, "release"), null=True),
        js.flag(kc["matches_running"], js.at(path, "matches_running"), null=True),
    )


def _restrictions(value: object, path: str) -> tuple[Restriction, ...]:
    out: list[Restriction] = []
    for n, r in enumerate(js.items(value, path, "objects")):
        item = js.at(path, n)
        r = _open(r, item, ("name", "path", "value", "meaning"))
        name = js.string(r["name"], js.at(item, "name"), empty=False)
        if any(name == seen.name for seen in out):
            raise js.Invalid(js.at(item, "name"), "each sysctl once", js.shown(name))
        out.append(
            Restriction(
                name,
                js.string(r["path"], js.at(item, "path")),
                js.text(r["value"], js.at(item, "value"), null=True),
                js.string(r["meaning"], js.at(item, "meaning")),
                # added to nsaudit.detect/1 later: an older report read every sysctl it names
                js.flag(r.get("read", True), js.at(item, "read")) is not False,
            )
        )
    return tuple(out)


def _answer(value: object, path: str, vocabulary: type[Access] | type[Unprivileged]) -> Answer:
    v = _open(value, path, ("value", "reason"))
    word = js.one(v["value"], js.at(path, "value"), tuple(w.value for w in vocabulary))
    return Answer(vocabulary(word), js.string(v["reason"], js.at(path, "reason")))


def _type(value: object, path: str) -> TypeCapability:
    keys = (
        "type",
        "status",
        "reason",
        "config",
        "present",
        "for_children",
        "limit",
        "introduced",
        "kernel_ok",
        "unprivileged",
    )
    t = _open(value, path, keys)
    ns_type = NsType(js.one(t["type"], js.at(path, "type"), NS_TYPE_NAMES))
    status = Status(js.one(t["status"], js.at(path, "status"), tuple(s.value for s in Status)))
    reason = js.string(t["reason"], js.at(path, "reason"))
    where = js.at(path, "config")
    config = []
    for n, option in enumerate(js.items(t["config"], where, "objects")):
        o = _open(option, js.at(where, n), ("option", "value"))
        config.append(
            KconfigOption(
                js.string(o["option"], js.at(js.at(where, n), "option"), empty=False),
                js.text(o["value"], js.at(js.at(where, n), "value"), null=True),
            )
        )
    return TypeCapability(
        type=ns_type,
        status=status,
        reason=reason,
        config=tuple(config),
        present=js.flag(t["present"], js.at(path, "present"), null=True),
        for_children=js.flag(t["for_children"], js.at(path, "for_children"), null=True),
        limit=js.whole(t["limit"], js.at(path, "limit"), null=True),
        introduced=js.string(t["introduced"], js.at(path, "introduced")),
        kernel_ok=js.flag(t["kernel_ok"], js.at(path, "kernel_ok"), null=True),
        unprivileged=_answer(t["unprivileged"], js.at(path, "unprivileged"), Unprivileged),
    )


def _probe(value: object, path: str) -> ProbeRun:
    p = _open(value, path, ("user", "uid", "results"))
    user = js.string(p["user"], js.at(path, "user"))
    uid = js.integer(p["uid"], js.at(path, "uid"))
    return ProbeRun(user, uid, _each_type(p["results"], js.at(path, "results"), _result))


def _result(value: object, path: str) -> ProbeResult:
    r = _open(value, path, ("type", "usable", "via", "errno", "error"))
    return ProbeResult(
        NsType(js.one(r["type"], js.at(path, "type"), NS_TYPE_NAMES)),
        bool(js.flag(r["usable"], js.at(path, "usable"))),
        js.choice(r["via"], js.at(path, "via"), _VIA, null=True),
        js.text(r["errno"], js.at(path, "errno"), null=True),
        js.text(r["error"], js.at(path, "error"), null=True),
    )
