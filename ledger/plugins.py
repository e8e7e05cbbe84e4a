"""The plugin host: builds the PluginManager from the `referral_ledger` entry-point group."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import config, hookspecs
from .entrypoints import entry_points
from .errors import LedgerError

GROUP = "referral_ledger"
DISABLE_ENV = "REFERRAL_LEDGER_DISABLE_PLUGINS"


@dataclass
class PluginInfo:
    name: str
    module: str
    version: str | None
    distribution: str | None
    builtin: bool
    enabled: bool
    hooks: list[str] = field(default_factory=list)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "version": self.version,
            "distribution": self.distribution,
            "builtin": self.builtin,
            "enabled": self.enabled,
            "hooks": self.hooks,
            "error": self.error,
        }


class PluginError(Exception):
    """A plugin raised; carries its name so the user knows whom to blame."""

    def __init__(self, plugin: str, exc: BaseException):
        self.plugin = plugin
        self.exc = exc
        super().__init__(f"plugin {plugin!r} failed: {type(exc).__name__}: {exc}")


class Plugins:
    """The loaded plugins and safe ways to call their hooks."""

    def __init__(self, *, load_entry_points: bool = True, extra: dict[str, object] | None = None):
        self.pm = pluggy.PluginManager("referral_ledger")
        self.pm.add_hookspecs(hookspecs)
        self.infos: list[PluginInfo] = []
        disabled = {
            name.strip() for name in os.environ.get(DISABLE_ENV, "").split(",") if name.strip()
        }
        if load_entry_points:
            self._load_entry_points(disabled)
        for name, plugin in (extra or {}).items():
            self._register(
                name,
                plugin,
                PluginInfo(name, getattr(plugin, "__name__", name), None, None, False, True),
            )
        self._cache: dict[str, Any] = {}
        self._due: dict[str, float] | None = None

    def _load_entry_points(self, disabled: set[str]) -> None:
        seen: set[str] = set()
        for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
            if ep.name in seen:
                continue
            seen.add(ep.name)
            dist = ep.dist
            dist_name = dist.metadata["Name"] if dist is not None else None
            info = PluginInfo(
                name=ep.name,
                module=ep.value,
                version=dist.version if dist is not None else None,
                distribution=dist_name,
                builtin=dist_name == "referral-ledger",
                enabled=ep.name not in disabled,
            )
            self.infos.append(info)
            if not info.enabled:
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # noqa: BLE001 — a plugin that cannot even import is reported, not fatal
                info.error = f"{type(exc).__name__}: {exc}"
                info.enabled = False
                continue
            self._register(ep.name, plugin, info, listed=True)

    def _register(self, name: str, plugin: object, info: PluginInfo, listed: bool = False) -> None:
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            info.error = str(exc)
            info.enabled = False
        else:
            info.hooks = sorted(hook.name for hook in self.pm.get_hookcallers(plugin) or ())
        if not listed:
            self.infos.append(info)

    def errors(self) -> list[str]:
        return [
            f"plugin {i.name!r}: {i.error}" for i in self.infos if i.error and i.enabled is False
        ]

    def call_each(
        self, hook: str, *, on_error: Callable[[PluginError], None] | None = None, **kwargs: Any
    ) -> list[tuple[str, Any]]:
        """Call every implementation of `hook`, returning (plugin name, result) pairs.

        A plugin that raises becomes a PluginError: passed to `on_error`, or raised.
        """
        results = []
        caller = getattr(self.pm.hook, hook)
        for impl in reversed(caller.get_hookimpls()):
            name = self.pm.get_name(impl.plugin) or repr(impl.plugin)
            try:
                result = impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
            except Exception as exc:
                error = PluginError(name, exc)
                if on_error is None:
                    raise error from exc
                on_error(error)
                continue
            if result is not None:
                results.append((name, result))
        return results

    def collected(self, hook: str) -> list[tuple[str, Any]]:
        """Items returned by a `register_*` hook, flattened, with the plugin that gave each."""
        if hook not in self._cache:
            items = []
            for name, result in self.call_each(hook, on_error=_warn):
                for item in result:
                    items.append((name, item))
            self._cache[hook] = items
        return self._cache[hook]

    def due_defaults(self) -> dict[str, float]:
        """Every `[due]` key the enabled plugins' projections declare (`Projection.due`), with
        its default days. A key declared twice, or badly, is an error naming the plugin(s)."""
        if self._due is None:
            declared: dict[str, float] = {}
            owner: dict[str, str] = {}
            for plugin, projection in self.collected("register_projections"):
                due = getattr(projection, "due", None) or {}
                if not isinstance(due, Mapping):
                    raise LedgerError(
                        f"plugin {plugin!r}: projection {projection.name!r} declares `due` as a "
                        f"{type(due).__name__}, not a mapping of [due] keys to days"
                    )
                for key, days in due.items():
                    problem = config.check_due_default(key, days)
                    if problem:
                        raise LedgerError(f"plugin {plugin!r} declares a bad {problem}")
                    if key in owner and owner[key] != plugin:
                        both = " and ".join(repr(p) for p in sorted((owner[key], plugin)))
                        raise LedgerError(f"[due] key {key!r} is declared by both {both}")
                    declared[key] = days
                    owner[key] = plugin
            self._due = declared
        return self._due


def settings() -> config.Settings:
    """The settings in force (the `--config` file, else the default one), checked against the
    `[due]` keys that the enabled plugins declare: one that none declares is refused."""
    return config.resolve(get_plugins().due_defaults())


def person_facts(
    ledger: Any, handle: str, *, as_of: int, known_at: int | None, taken: Iterable[str] = ()
) -> dict[str, Any]:
    """What the plugins add to `person show` (the `person_facts` hook), merged: a key in
    `taken` or given by an earlier plugin is left out with a warning naming the plugin."""
    found: dict[str, Any] = {}
    used = set(taken)
    for name, facts in ledger.plugins.call_each(
        "person_facts", handle=handle, ledger=ledger, as_of=as_of, known_at=known_at, on_error=_warn
    ):
        for key, value in dict(facts).items():
            if key in used:
                _warn(PluginError(name, ValueError(f"person_facts: key {key!r} is taken")))
                continue
            used.add(key)
            found[key] = value
    return found


def me(ledger: Any = None) -> str | None:
    """Who is using the ledger: `REFERRAL_LEDGER_ME`, else the config file's `me`, else None.

    Given a ledger, a handle that is not one of its people is an error that says where the
    handle came from (exit 2)."""
    found = settings()
    handle = os.environ.get(config.ME_ENV) or found.me
    if not handle or ledger is None:
        return handle or None
    if ledger.person(handle) is None:
        where = config.ME_ENV if os.environ.get(config.ME_ENV) else f"`me` in {found.path}"
        raise LedgerError(f"{where} names {handle!r}, who is not a person in this ledger")
    return handle


def _warn(error: PluginError) -> None:
    from .text import visible

    # a plugin's message may quote stored text: it reaches the terminal escaped, as all text does
    print(f"Warning: {visible(str(error))}", file=sys.stderr)


_default: Plugins | None = None


def get_plugins() -> Plugins:
    """The process's plugins, loaded once."""
    global _default
    if _default is None:
        _default = Plugins()
    return _default


def reset_plugins() -> None:
    global _default
    _default = None
