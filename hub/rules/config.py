"""The rule settings: their defaults, validation and JSON Schema, all derived from the declarations.

Each rule family declares its rules and their settings (hub.rules.base.Rule/Setting, one module each,
registered in hub.rules.registry); the alarms/tickets/dispatch sections are declared here (``SECTIONS``).
hub/rules.toml (cfg.hub.rules_file) holds only what a site changes; ``PUT /api/rules`` stores an edited
copy in the hub database, which then wins over the file. Anything not set keeps its declared default
(``schema()``). Unknown names and wrong types are refused with a message naming the key.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any, Sequence

from floorops.kinds import BUILTIN, KindRegistry
from hub.rules.base import SEVERITIES, Rule, RuleFamily, RuleSet, Setting
from hub.rules.registry import FAMILIES

__all__ = ["SECTIONS", "SEVERITIES", "RuleSet", "RulesError", "load_rules_file", "rule_settings", "rules_schema",
           "schema", "settings_table", "validate_rules"]

# The sections beside [rules]: how alarms, tickets and staff dispatch behave, for every rule.
SECTIONS: dict[str, tuple[Setting, ...]] = {
    "alarms": (
        Setting("flap_window_s", 600.0, "this many raises (flap_max_raises) of the same alarm within this long "
                "(s) ..."),
        Setting("flap_max_raises", 3, "... reopen the last one as flapping instead of raising a new one",
                type="integer"),
        Setting("flap_hold_s", 300.0, "a flapping alarm clears only after its condition stayed away this long (s)"),
        Setting("escalate_after_s", {"critical": 300.0, "major": 900.0, "minor": 1800.0, "warning": 3600.0},
                "per severity: an alarm not acknowledged within this long (s) escalates", type="per_severity"),
    ),
    "tickets": (
        Setting("respond_min", 30.0, "accept a ticket within this many minutes"),
        Setting("repair_min", {"critical": 120.0, "major": 240.0, "minor": 480.0, "warning": 1440.0},
                "per severity: repair within this many minutes", type="per_severity"),
        Setting("reopen_window_s", 86400.0, "the same fault on the same device within this long (s) reopens "
                "the resolved ticket"),
    ),
    "dispatch": (
        Setting("offer_timeout_s", 180.0, "an offer nobody answers goes to the next person after this long (s)"),
        Setting("max_offers", 6, "at most this many people are asked per request", type="integer"),
    ),
}


class RulesError(ValueError):
    """The rules file or the edited rules are invalid."""


def rule_settings(rule: Rule) -> tuple[Setting, ...]:
    """The settings every rule has, then its own."""
    return (
        Setting("enabled", True, "raise this alarm at all", type="bool"),
        Setting("severity", rule.severity, "the alarm's severity", type="severity"),
        Setting("ticket", rule.ticket, "open a maintenance ticket per fault episode", type="bool"),
        Setting("dispatch", rule.dispatch, "offer staff to the alarm's zone", type="bool"),
        *rule.settings,
    )


def _rules(families: Sequence[RuleFamily]) -> dict[str, Rule]:
    out: dict[str, Rule] = {}
    for family in families:
        for rule in family.rules:
            if rule.name in out:
                raise ValueError(f"rule {rule.name} is declared twice (family {family.name})")
            out[rule.name] = rule
    return out


def _default(setting: Setting, kinds: KindRegistry) -> Any:
    if setting.type == "per_kind":
        return {k.name: float(setting.default(k)) for k in kinds}
    return copy.deepcopy(setting.default)


def schema(kinds: KindRegistry = BUILTIN, families: Sequence[RuleFamily] = FAMILIES) -> dict[str, Any]:
    """Every setting with its default, for a site whose devices are of ``kinds``."""
    out: dict[str, Any] = {name: {s.name: _default(s, kinds) for s in settings} for name, settings in SECTIONS.items()}
    out["rules"] = {name: {s.name: _default(s, kinds) for s in rule_settings(rule)}
                    for name, rule in _rules(families).items()}
    return out


def _number(v: Any, where: str, lowest: float = 0) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < lowest:
        raise RulesError(f"{where}: expected a number >= {lowest:g}, got {v!r}")
    return float(v)


def _value(setting: Setting, default: Any, given: Any, where: str, kinds: KindRegistry) -> Any:
    """``given`` checked against ``setting``, merged over ``default`` for the tables."""
    t = setting.type
    if t == "bool":
        if not isinstance(given, bool):
            raise RulesError(f"{where}: expected true or false, got {given!r}")
        return given
    if t == "integer":
        if isinstance(given, bool) or not isinstance(given, int) or given < setting.lowest:
            raise RulesError(f"{where}: expected an integer >= {setting.lowest:g}, got {given!r}")
        return given
    if t == "number":
        return _number(given, where, setting.lowest)
    if t == "severity":
        if given not in SEVERITIES:
            raise RulesError(f"{where}: expected one of {', '.join(SEVERITIES)}, got {given!r}")
        return given
    if not isinstance(given, dict):
        raise RulesError(f"{where}: expected a table")
    out = dict(default)
    for k, v in given.items():
        if t == "per_severity" and k not in SEVERITIES:
            raise RulesError(f"{where}.{k}: not a severity ({', '.join(SEVERITIES)})")
        if t == "per_kind" and k not in kinds:
            raise RulesError(f"{where}.{k}: not a device kind ({', '.join(kinds.names)})")
        if t == "per_queue":
            if not isinstance(v, dict) or set(v) - set(setting.fields):
                raise RulesError(f"{where}.{k}: expected a table with {', '.join(sorted(setting.fields))}")
            out[k] = {q: _number(x, f"{where}.{k}.{q}", setting.lowest) for q, x in v.items()}
        else:
            out[k] = _number(v, f"{where}.{k}", setting.lowest)
    return out


def settings_table(settings: Sequence[Setting], given: Any, where: str, kinds: KindRegistry) -> dict[str, Any]:
    """One table (a section, or a rule): the declared defaults with ``given`` applied, checked."""
    if not isinstance(given, dict):
        raise RulesError(f"{where}: expected a table")
    declared = {s.name: s for s in settings}
    for k in given:
        if k not in declared:
            raise RulesError(f"{where}.{k}: unknown setting")
    return {s.name: _value(s, _default(s, kinds), given[s.name], f"{where}.{s.name}", kinds) if s.name in given
            else _default(s, kinds) for s in settings}


def validate_rules(data: Any, kinds: KindRegistry = BUILTIN,
                   families: Sequence[RuleFamily] = FAMILIES) -> dict[str, Any]:
    """The full settings: the declared defaults with ``data`` applied, checked."""
    if not isinstance(data, dict):
        raise RulesError("rules: expected an object")
    out: dict[str, Any] = {name: settings_table(settings, data.get(name, {}), name, kinds)
                           for name, settings in SECTIONS.items()}
    given_rules = data.get("rules", {})
    if not isinstance(given_rules, dict):
        raise RulesError("rules: expected a table")
    rules = _rules(families)
    for name in given_rules:
        if name not in rules:
            raise RulesError(f"rules.{name}: unknown setting")
    out["rules"] = {}
    for name, rule in rules.items():
        merged = settings_table(rule_settings(rule), given_rules.get(name, {}), f"rules.{name}", kinds)
        if rule.check is not None and (reason := rule.check(merged)):
            raise RulesError(f"rules.{name}: {reason}")
        out["rules"][name] = merged
    unknown = set(data) - set(out)
    if unknown:
        raise RulesError(f"{', '.join(sorted(unknown))}: unknown section")
    return out


def _setting_schema(setting: Setting, kinds: KindRegistry) -> dict[str, Any]:
    number = {"type": "number", "minimum": setting.lowest}
    t = setting.type
    if t == "per_severity":
        node: dict[str, Any] = {"type": "object", "additionalProperties": False,
                                "properties": {s: dict(number) for s in SEVERITIES}}
    elif t == "per_kind":  # a site's plugin kinds too: the keys are checked against its kinds (validate_rules)
        node = {"type": "object", "additionalProperties": dict(number),
                "properties": {k: dict(number) for k in kinds.names}}
    elif t == "per_queue":
        node = {"type": "object", "additionalProperties": {
            "type": "object", "additionalProperties": False,
            "properties": {q: dict(number) for q in sorted(setting.fields)}}}
    elif t == "bool":
        node = {"type": "boolean"}
    elif t == "integer":
        node = {"type": "integer", "minimum": setting.lowest}
    elif t == "severity":
        node = {"type": "string", "enum": list(SEVERITIES)}
    else:
        node = number
    return {**node, "description": setting.help}


def rules_schema(kinds: KindRegistry = BUILTIN, families: Sequence[RuleFamily] = FAMILIES) -> dict[str, Any]:
    """JSON Schema of the settings (for the OpenAPI document), from the declarations."""
    def table(settings: Sequence[Setting], description: str = "") -> dict[str, Any]:
        node = {"type": "object", "additionalProperties": False,
                "properties": {s.name: _setting_schema(s, kinds) for s in settings}}
        return {**node, "description": description} if description else node
    props = {name: table(settings) for name, settings in SECTIONS.items()}
    props["rules"] = {"type": "object", "additionalProperties": False, "properties": {
        name: table(rule_settings(rule), rule.help) for name, rule in _rules(families).items()}}
    return {"type": "object", "additionalProperties": False, "properties": props}


def load_rules_file(path: str | Path, kinds: KindRegistry = BUILTIN) -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        return validate_rules({}, kinds)
    try:
        return validate_rules(tomllib.loads(p.read_text(encoding="utf-8")), kinds)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{p}: {exc}") from None
    except RulesError as exc:
        raise RulesError(f"{p}: {exc}") from None
