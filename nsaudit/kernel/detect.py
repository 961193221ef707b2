"""Join kernel config, /proc/self/ns, limits and sysctls into one capability report."""

from __future__ import annotations

import os
from dataclasses import replace

from nsaudit.errors import UsageError
from nsaudit.hostfs import HostFS
from nsaudit.kernel import apparmor, kconfig, sysctlconf, userns
from nsaudit.kernel.kconfig import Kconfig, KconfigError
from nsaudit.kernel.nstypes import SPECS, UMBRELLA, TypeSpec
from nsaudit.kernel.release import at_least, same_series
from nsaudit.model import (
    Access,
    Answer,
    Capabilities,
    KconfigOption,
    KconfigSource,
    NsType,
    Status,
    TypeCapability,
    Unprivileged,
)

RELEASE_PATH = "/proc/sys/kernel/osrelease"
# Filled in once the user type's status, on which it depends, is known.
_PENDING = Answer(Unprivileged.UNKNOWN, "not assessed")


def detect(host: HostFS, kconfig_file: str | None = None) -> Capabilities:
    """What the kernel under `host` can do, with the evidence for each type."""
    warnings: list[str] = []
    release, release_source = _running_release(host, warnings)
    config, tried = _find_config(host, release, kconfig_file, warnings)
    matches = None
    if config is not None and release is not None:
        matches = same_series(config.release, release)
        if matches is False:
            warnings.append(
                f"{config.path} belongs to kernel {config.release}, but {release} is running: "
                "its values may not describe this kernel"
            )
    elif config is not None and config.release:
        release, release_source = config.release, f"header of {config.path}"
    ns_known = host.isdir("/proc/self/ns")
    types = [_type(host, spec, config, release, ns_known, warnings) for spec in SPECS]
    restrictions, apparmor_active = userns.read_restrictions(host, warnings)
    user_status = next(t.status for t in types if t.type is NsType.USER)
    access = userns.unprivileged_access(user_status, restrictions, apparmor_active)
    types = [_with_unprivileged(t, access) for t in types]
    persisted = sysctlconf.read(host, userns.CHECKED_SYSCTLS, warnings)
    profiles = apparmor.userns_profiles(host, warnings)
    source = None
    if config is not None:
        source = KconfigSource(config.path, config.compressed, config.release, matches)
    return Capabilities(
        root=str(host.root),
        release=release,
        release_source=release_source,
        kconfig=source,
        kconfig_tried=tried,
        types=tuple(types),
        restrictions=restrictions,
        unprivileged_userns=access,
        warnings=tuple(warnings),
        persisted=persisted,
        userns_profiles=profiles,
    )


def _with_unprivileged(t: TypeCapability, access: Answer) -> TypeCapability:
    is_user = t.type is NsType.USER
    reason = t.reason
    if is_user and t.status is Status.AVAILABLE and access.value != Access.ALLOWED:
        reason += f"; unprivileged users: {access.value} ({access.reason})"
    return replace(
        t, reason=reason, unprivileged=userns.unprivileged_verdict(is_user, t.status, access)
    )


def _running_release(host: HostFS, warnings: list[str]) -> tuple[str | None, str | None]:
    try:
        release = host.read_value(RELEASE_PATH)
    except OSError as e:
        warnings.append(f"{host.show(RELEASE_PATH)} cannot be read ({e.strerror})")
        release = None
    if release:
        return release, host.show(RELEASE_PATH)
    if host.live:
        return os.uname().release, "uname(2)"
    return None, None


def _find_config(
    host: HostFS, release: str | None, kconfig_file: str | None, warnings: list[str]
) -> tuple[Kconfig | None, tuple[str, ...]]:
    if kconfig_file is not None:
        try:
            config = kconfig.read_file(kconfig_file)
        except KconfigError as e:
            raise UsageError(f"--kconfig: {e}") from None
        return config, (f"{config.path}: used (--kconfig)",)
    located = kconfig.locate(host, release)
    warnings.extend(located.problems)
    return located.config, located.tried


def _type(
    host: HostFS,
    spec: TypeSpec,
    config: Kconfig | None,
    release: str | None,
    ns_known: bool,
    warnings: list[str],
) -> TypeCapability:
    name = spec.type.value
    link = f"/proc/self/ns/{name}"
    options = _options(spec, config)
    built_by_config, config_why = _config_verdict(spec, config, options)
    present = host.lexists(link) if ns_known else None
    for_children = None
    if spec.for_children and ns_known:
        for_children = host.lexists(f"{link}_for_children")
    limit = _limit(host, name, warnings)
    kernel_ok = at_least(release, spec.introduced)
    too_old = f"kernel {release} predates {name} namespaces ({spec.introduced_text})"

    evidence: list[str] = []
    built: bool | None
    if present is not None:
        built = present
        evidence.append(f"{link} {'exists' if present else 'is absent'}")
        if config is not None and built_by_config != present:
            warnings.append(
                f"{config_why} in {config.path} but {link} "
                f"{'exists' if present else 'is absent'}: the config does not describe the "
                "running kernel"
            )
        if present and kernel_ok is False:
            warnings.append(f"{too_old}, yet {link} exists (a backport?)")
    elif built_by_config is not None:
        built = built_by_config
        if built and kernel_ok is False:
            warnings.append(f"{too_old}, yet {config_why} (a backport?)")
    elif kernel_ok is False:
        built = False
        evidence.append(too_old)
    else:
        built = None
    if config_why:
        evidence.append(config_why)

    if built is None:
        status, reason = Status.UNKNOWN, "no kernel config and no /proc/self/ns to tell"
    elif not built:
        status, reason = Status.MISSING, "; ".join(evidence)
    elif limit == 0:
        status = Status.DISABLED
        reason = f"built in, but user.max_{name}_namespaces = 0 switches it off"
    else:
        status, reason = Status.AVAILABLE, "; ".join(evidence)
    for opt in options:
        if opt.value == "m":
            warnings.append(f"{opt.name}=m, but it is a yes/no option; counted as built in")
    return TypeCapability(
        type=spec.type,
        config=options,
        present=present,
        for_children=for_children,
        limit=limit,
        introduced=spec.introduced_text,
        kernel_ok=kernel_ok,
        status=status,
        reason=reason,
        unprivileged=_PENDING,
    )


def _options(spec: TypeSpec, config: Kconfig | None) -> tuple[KconfigOption, ...]:
    """The type's option first, then what it depends on; empty without a config."""
    if config is None:
        return ()
    names = [spec.option] if spec.option else []
    if spec.umbrella:
        names.append(UMBRELLA)
    names.extend(spec.any_of)
    return tuple(KconfigOption(n, config.values.get(n)) for n in names)


def _config_verdict(
    spec: TypeSpec, config: Kconfig | None, options: tuple[KconfigOption, ...]
) -> tuple[bool | None, str]:
    """Whether the config builds the type, and the option that says so."""
    if config is None:
        return None, ""
    if not options:
        return True, "always built (no config option)"
    main, values = options[0], {o.name: o for o in options}
    if not main.enabled:
        return False, main.text
    if spec.umbrella and not values[UMBRELLA].enabled:
        return False, values[UMBRELLA].text
    if spec.any_of and not any(values[n].enabled for n in spec.any_of):
        return False, " and ".join(values[n].text for n in spec.any_of)
    return True, main.text


def _limit(host: HostFS, name: str, warnings: list[str]) -> int | None:
    path = f"/proc/sys/user/max_{name}_namespaces"
    try:
        value = host.read_value(path)
    except OSError as e:
        warnings.append(f"{host.show(path)} cannot be read ({e.strerror})")
        return None
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        warnings.append(f"{host.show(path)} holds {value!r}, not a number; ignored")
        return None
