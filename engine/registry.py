"""The one plugin registry: discovery, selection, weights checks and the plugin table.

Plugins are found through the entry-point group ``streetshop.plugins`` (the
built-in plugins register there exactly like a third-party package does) and
through ``register()`` for in-process classes (tests, notebooks). Each entry
point's name must equal its class's ``info.name``.

Which plugin serves a role comes from, in order: ``configure()`` (Python),
the environment (STREETSHOP_DETECTOR / STREETSHOP_ALIGNER /
STREETSHOP_EXTRACTOR), then the defaults (pose, cascade_cnn, fashionnet).

    from engine.registry import load_plugin
    extractor = load_plugin("extractor")            # the configured one
    aligner = load_plugin("aligner", "cascade_cnn", device="cuda")

``load_plugin`` checks the plugin's weights file against its declared sha256
before constructing it. ``python -m engine plugins`` prints ``print_plugins()``.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from engine.contracts import ROLE_BASES, Plugin, PluginInfo, PluginSelection, Role

ENTRY_POINT_GROUP = "streetshop.plugins"

#: Environment variable that names the plugin of each role.
ENV_VARS: dict[Role, str] = {
    Role.DETECTOR: "STREETSHOP_DETECTOR",
    Role.ALIGNER: "STREETSHOP_ALIGNER",
    Role.EXTRACTOR: "STREETSHOP_EXTRACTOR",
}

#: Plugin used for each role when neither configure() nor the environment names one.
DEFAULTS: dict[Role, str] = {role: getattr(PluginSelection(), role.value) for role in Role}

#: Weights statuses reported by ``PluginEntry.weights_status()``.
WEIGHTS_OK = "ok"
WEIGHTS_MISSING = "missing"
WEIGHTS_MISMATCH = "checksum mismatch"
WEIGHTS_NONE = "none"  # the plugin needs no weights file
WEIGHTS_UNCHECKED = "no checksum"  # a weights file without a declared sha256


# ----------------------------------------------------------------------------- errors


class PluginError(Exception):
    """Any problem finding, loading or checking a plugin; the message says what to fix."""


class UnknownPluginError(PluginError, LookupError):
    """No installed plugin has the requested name."""


class WrongRoleError(PluginError):
    """The named plugin exists but serves another role (a detector asked for as aligner)."""


class PluginLoadError(PluginError, ImportError):
    """An entry point that cannot be imported, or that does not point at a valid plugin class."""


class AmbiguousPluginError(PluginError):
    """Two installed distributions provide a plugin of the same name."""


class UnsupportedDeviceError(PluginError, ValueError):
    """The plugin does not declare the requested device."""


class WeightsError(PluginError):
    """Base of the weights-file problems."""


class MissingWeightsError(WeightsError, FileNotFoundError):
    """The plugin's declared weights file does not exist."""


class WeightsChecksumError(WeightsError):
    """The weights file's sha256 differs from the plugin's declared ``weights_sha256``."""


# ----------------------------------------------------------------------------- entries


@dataclass
class PluginEntry:
    """One installed plugin as discovered (loaded or broken).

    ``module`` is the import path ("package.module:Class"). For a broken
    entry ``info`` and ``plugin_class`` are None and ``error`` says why.
    """

    name: str
    role: Role | None
    version: str | None
    distribution: str
    module: str
    info: PluginInfo | None = None
    error: str | None = None
    plugin_class: type[Plugin] | None = field(default=None, repr=False, compare=False)

    @property
    def broken(self) -> bool:
        return self.error is not None

    def weights_status(self) -> str:
        """ok / missing / checksum mismatch / none / no checksum (or "broken")."""
        if self.plugin_class is None:
            return "broken"
        return weights_status(self.plugin_class)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role.value if self.role else None,
            "version": self.version,
            "distribution": self.distribution,
            "module": self.module,
            "info": self.info.to_dict() if self.info else None,
            "error": self.error,
            "weights_status": self.weights_status(),
        }


# ----------------------------------------------------------------------------- public API


def available(role: Role | str | None = None) -> list[PluginEntry]:
    """Every installed plugin, sorted by role and name; broken ones are listed (role None) only when ``role`` is None."""
    role = _parse_role(role) if role is not None else None
    entries = _discover()
    if role is not None:
        entries = [entry for entry in entries if entry.role == role]
    return sorted(entries, key=lambda e: (e.role.value if e.role else "~", e.name, e.distribution))


def plugin_class(name: str, role: Role | str | None = None) -> type[Plugin]:
    """The plugin class called ``name``; with ``role``, it must serve that role."""
    role = _parse_role(role) if role is not None else None
    matches = _discover(only_name=name)
    if not matches:
        raise UnknownPluginError(_unknown_message(name, role))
    if len(matches) > 1:
        providers = ", ".join(f"{e.distribution} ({e.module})" for e in matches)
        raise AmbiguousPluginError(
            f"plugin name {name!r} is provided by more than one package: {providers}; uninstall all but one"
        )
    entry = matches[0]
    if entry.broken:
        raise PluginLoadError(entry.error)
    assert entry.plugin_class is not None and entry.role is not None
    if role is not None and entry.role != role:
        others = ", ".join(e.name for e in available(role)) or "none"
        raise WrongRoleError(
            f"plugin {name!r} is a {entry.role.value}, it cannot serve as {role.value}; "
            f"installed {role.value}s: {others}; set {ENV_VARS[role]} to one of them"
        )
    return entry.plugin_class


def load_plugin(role: Role | str, name: str | None = None, device: str = "cpu") -> Plugin:
    """Construct the plugin serving ``role`` (the configured one when ``name`` is None) on ``device``.

    The weights file is checked against its declared sha256 first.
    """
    role = _parse_role(role)
    name = name or configured_name(role)
    cls = plugin_class(name, role)
    if device.split(":")[0] not in cls.info.devices:
        raise UnsupportedDeviceError(
            f"plugin {cls.info.key} runs on {', '.join(cls.info.devices)}, not on {device!r}; "
            f"pick one of those devices or another {role.value}"
        )
    verify_weights(cls)
    return cls(device=device)


def configured_name(role: Role | str) -> str:
    """The plugin name for ``role``: configure() > environment variable > default."""
    role = _parse_role(role)
    if role in _configured:
        return _configured[role]
    from_env = os.environ.get(ENV_VARS[role], "").strip()
    return from_env or DEFAULTS[role]


def selection() -> PluginSelection:
    """The configured plugin names of all three roles."""
    return PluginSelection(
        detector=configured_name(Role.DETECTOR),
        aligner=configured_name(Role.ALIGNER),
        extractor=configured_name(Role.EXTRACTOR),
    )


def configure(detector: str | None = None, aligner: str | None = None, extractor: str | None = None) -> None:
    """Name plugins from Python; overrides the environment. Arguments left None keep their current setting."""
    for role, name in ((Role.DETECTOR, detector), (Role.ALIGNER, aligner), (Role.EXTRACTOR, extractor)):
        if name is not None:
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"{role.value} plugin name must be a non-empty string, got {name!r}")
            _configured[role] = name.strip()


def reset_configuration() -> None:
    """Forget configure() settings and in-process registrations (tests)."""
    _configured.clear()
    _registered.clear()


def register(cls: type[Plugin], replace: bool = False) -> type[Plugin]:
    """Register a plugin class in this process, without an entry point. Usable as a decorator.

    A registered plugin shadows an installed one of the same name.
    """
    problem = _class_problem(cls)
    if problem:
        raise PluginLoadError(f"cannot register {_qualified_name(cls)}: {problem}")
    name = cls.info.name
    if name in _registered and _registered[name] is not cls and not replace:
        raise PluginError(
            f"a plugin named {name!r} is already registered ({_qualified_name(_registered[name])}); "
            "pass replace=True to replace it"
        )
    _registered[name] = cls
    return cls


def unregister(name: str) -> None:
    _registered.pop(name, None)


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def weights_path(cls: type[Plugin]) -> Path | None:
    """Where ``info.weights_file`` points: absolute, or relative to the directory of the class's module."""
    weights_file = cls.info.weights_file
    if not weights_file:
        return None
    path = Path(weights_file).expanduser()
    if path.is_absolute():
        return path
    return _module_dir(cls) / path


def verify_weights(cls: type[Plugin]) -> Path | None:
    """Check the plugin's weights file exists and matches ``info.weights_sha256``; return its path (None if it has none)."""
    path = weights_path(cls)
    if path is None:
        return None
    info = cls.info
    if not path.is_file():
        remedy = info.weights_help or (
            f"reinstall the package that provides {info.name!r}, or train the weights with the project's training command"
        )
        raise MissingWeightsError(f"weights file of plugin {info.key} not found: {path}; {remedy}")
    if info.weights_sha256:
        actual = _cached_sha256(path)
        expected = info.weights_sha256.strip().lower()
        if actual != expected:
            raise WeightsChecksumError(
                f"weights file {path} of plugin {info.key} has sha256 {actual}, expected {expected}; "
                "the file is damaged or from another version: reinstall the package that provides it, "
                "or retrain it and update the plugin's weights_sha256"
            )
    return path


def weights_status(cls: type[Plugin]) -> str:
    """ok / missing / checksum mismatch / none (no weights file) / no checksum (file without a declared sha256)."""
    try:
        path = verify_weights(cls)
    except MissingWeightsError:
        return WEIGHTS_MISSING
    except WeightsChecksumError:
        return WEIGHTS_MISMATCH
    except PluginError:
        return "error"
    if path is None:
        return WEIGHTS_NONE
    return WEIGHTS_OK if cls.info.weights_sha256 else WEIGHTS_UNCHECKED


def format_plugin_table(entries: list[PluginEntry]) -> str:
    """A text table of ``entries``; ``*`` marks the configured plugin of each role. Broken ones are explained below it."""
    configured = {role: configured_name(role) for role in Role}
    headers = ["", "role", "name", "version", "distribution", "embedding", "devices", "weights"]
    rows = []
    for entry in entries:
        info = entry.info
        marked = entry.role is not None and configured[entry.role] == entry.name
        if info is None:
            rows.append(["!", "?", entry.name, "?", entry.distribution, "-", "-", "broken"])
            continue
        embedding = f"{info.embedding_dim}/{info.metric or '?'}" if info.embedding_dim else "-"
        rows.append(
            [
                "*" if marked else "",
                info.role.value,
                info.name,
                info.version,
                entry.distribution,
                embedding,
                ",".join(info.devices),
                entry.weights_status(),
            ]
        )
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [headers, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths).rstrip())
    if not rows:
        lines.append("(no plugins installed)")
    lines.append("")
    lines.append("* configured: " + ", ".join(f"{role.value}={name} ({ENV_VARS[role]})" for role, name in configured.items()))
    installed = {(e.role, e.name): e for e in entries if not e.broken}
    for role, name in configured.items():
        entry = installed.get((role, name))
        if entry is None:
            lines.append(f"warning: configured {role.value} {name!r} is not installed or is broken")
        elif entry.weights_status() in (WEIGHTS_MISSING, WEIGHTS_MISMATCH):
            assert entry.plugin_class is not None
            lines.append(
                f"warning: configured {role.value} {name!r} cannot load: weights {entry.weights_status()} "
                f"({weights_path(entry.plugin_class)})"
            )
    for entry in entries:
        if entry.broken:
            lines.append(f"! {entry.name}: {entry.error}")
    return "\n".join(lines) + "\n"


def print_plugins(stream: TextIO | None = None, as_json: bool = False) -> int:
    """Print the installed plugins (the ``plugins`` command). Returns 0, or 1 if a configured plugin is unusable."""
    stream = stream if stream is not None else sys.stdout
    entries = available()
    configured = {role: configured_name(role) for role in Role}
    usable = {(e.role, e.name) for e in entries if not e.broken and e.weights_status() in (WEIGHTS_OK, WEIGHTS_NONE, WEIGHTS_UNCHECKED)}
    status = 0 if all((role, name) in usable for role, name in configured.items()) else 1
    if as_json:
        payload = {
            "configured": {role.value: name for role, name in configured.items()},
            "plugins": [entry.to_dict() for entry in entries],
        }
        stream.write(json.dumps(payload, indent=2) + "\n")
    else:
        stream.write(format_plugin_table(entries))
    return status


# ----------------------------------------------------------------------------- helpers

_configured: dict[Role, str] = {}
_registered: dict[str, type[Plugin]] = {}
_digest_cache: dict[tuple[str, int, int], str] = {}


def _discover(only_name: str | None = None) -> list[PluginEntry]:
    """Entries of registered classes and of entry points (loading only ``only_name``'s when given)."""
    entries = [
        _entry_for_class(cls, "(registered)", _qualified_name(cls))
        for name, cls in _registered.items()
        if only_name is None or name == only_name
    ]
    shadowed = set(_registered)
    seen: set[tuple[str, str, str]] = set()  # one distribution can be on sys.path twice
    for entry_point in _entry_points():
        if only_name is not None and entry_point.name != only_name:
            continue
        key = (entry_point.name, entry_point.value, _distribution_name(entry_point))
        if entry_point.name in shadowed or key in seen:
            continue
        seen.add(key)
        entries.append(_load_entry_point(entry_point))
    return entries


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def _load_entry_point(entry_point: importlib.metadata.EntryPoint) -> PluginEntry:
    distribution = _distribution_name(entry_point)
    where = f"entry point {entry_point.name!r} ({entry_point.value}) of distribution {distribution!r}"
    try:
        cls = entry_point.load()
    except Exception as error:  # any import-time failure of a third-party module
        message = f"{where} failed to import: {type(error).__name__}: {error}"
        return PluginEntry(entry_point.name, None, None, distribution, entry_point.value, error=message)
    problem = _class_problem(cls)
    if problem is None and cls.info.name != entry_point.name:
        problem = (
            f"its class's info.name is {cls.info.name!r}; the entry point name and info.name must be equal, "
            "rename one of them"
        )
    if problem:
        return PluginEntry(entry_point.name, None, None, distribution, entry_point.value, error=f"{where}: {problem}")
    return _entry_for_class(cls, distribution, entry_point.value)


def _entry_for_class(cls: type[Plugin], distribution: str, module: str) -> PluginEntry:
    info = cls.info
    return PluginEntry(info.name, info.role, info.version, distribution, module, info=info, plugin_class=cls)


def _class_problem(cls: Any) -> str | None:
    """Why ``cls`` is not a usable plugin class, or None."""
    if not (inspect.isclass(cls) and issubclass(cls, Plugin)):
        return f"{cls!r} is not a subclass of engine.contracts.Plugin"
    info = getattr(cls, "info", None)
    if not isinstance(info, PluginInfo):
        return f"{_qualified_name(cls)} has no class attribute info of type PluginInfo"
    try:
        role = Role(info.role)
    except ValueError:
        return f"{_qualified_name(cls)} declares unknown role {info.role!r}"
    if not issubclass(cls, ROLE_BASES[role]):
        base = ROLE_BASES[role]
        return f"{_qualified_name(cls)} declares role {role.value} but does not subclass {base.__module__}.{base.__name__}"
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        return f"{_qualified_name(cls)} does not implement {missing}"
    return None


def _distribution_name(entry_point: importlib.metadata.EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return "(unknown distribution)"
    try:
        return dist.name or dist.metadata["Name"]
    except Exception:
        return "(unknown distribution)"


def _unknown_message(name: str, role: Role | None) -> str:
    if role is None:
        installed = ", ".join(sorted({e.name for e in available() if not e.broken})) or "none"
        return f"no plugin {name!r}; installed: {installed}; install a package that provides it"
    installed = ", ".join(e.name for e in available(role)) or "none"
    return (
        f"no plugin {name!r} for role {role.value}; installed: {installed}; "
        f"install a package that provides it or set {ENV_VARS[role]} to one of them"
    )


def _parse_role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown plugin role {role!r}: expected one of {names}") from None


def _module_dir(cls: type) -> Path:
    module = sys.modules.get(cls.__module__)
    module_file = getattr(module, "__file__", None)
    if not module_file:
        raise PluginError(
            f"cannot resolve the relative weights_file of {_qualified_name(cls)}: its module has no file; "
            "give an absolute weights_file"
        )
    return Path(module_file).resolve().parent


def _cached_sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    digest = _digest_cache.get(key)
    if digest is None:
        digest = _digest_cache[key] = sha256_file(path)
    return digest


def _qualified_name(cls: Any) -> str:
    return f"{getattr(cls, '__module__', '?')}:{getattr(cls, '__qualname__', repr(cls))}"
