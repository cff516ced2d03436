"""The rule settings: what may be configured, with which types, and validation of hub/rules.toml.

The file (cfg.hub.rules_file) holds the site's settings and documents each one; ``PUT /api/rules``
stores an edited copy in the hub database, which then wins over the file. Anything not set keeps the
value in ``schema()`` (``SCHEMA``, with each device kind's declared silence timeout). Unknown names and wrong types are refused with a message naming the key.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

from floorops.kinds import BUILTIN, KindRegistry
from floorops.site import ZONE_KINDS

SEVERITIES = ("critical", "major", "minor", "warning")


def _rule(severity: str, ticket: bool = False, dispatch: bool = False, **params: Any) -> dict[str, Any]:
    return {"enabled": True, "severity": severity, "ticket": ticket, "dispatch": dispatch, **params}


def schema(kinds: KindRegistry = BUILTIN) -> dict[str, Any]:
    """Every setting with its default, for a site whose devices are of ``kinds`` (each kind's silence
    timeout defaults to its declaration's ``offline_after_s``, floorops.kinds)."""
    out = copy.deepcopy(SCHEMA)
    out["rules"]["device_offline"]["timeout_s"] = {k.name: k.offline_after_s for k in kinds}
    return out


# The hospital's words: over 30 people or 25 minutes' wait at registration and payment is too long.
REGISTRATION_AND_PAYMENT_WAIT: dict[str, dict[str, float]] = {
    k: {"max_avg_wait_s": 1500.0, "max_waiting": 30.0} for k in ("registration", "payment")}

SCHEMA: dict[str, Any] = {
    "alarms": {
        "flap_window_s": 600.0, "flap_max_raises": 3, "flap_hold_s": 300.0,
        "escalate_after_s": {"critical": 300.0, "major": 900.0, "minor": 1800.0, "warning": 3600.0},
    },
    "tickets": {
        "respond_min": 30.0,
        "repair_min": {"critical": 120.0, "major": 240.0, "minor": 480.0, "warning": 1440.0},
        "reopen_window_s": 86400.0,
    },
    "dispatch": {"offer_timeout_s": 180.0, "max_offers": 6},
    "rules": {
        "card_jam": _rule("major", ticket=True),
        "card_reader_error": _rule("major", ticket=True),
        "app_hung": _rule("major", ticket=True),
        "app_crashed": _rule("major", ticket=True),
        "paper_out": _rule("minor", ticket=True),
        "printer_jam": _rule("major", ticket=True),
        "printer_offline": _rule("major", ticket=True),
        "slow_response": _rule("minor", threshold_ms=10000.0, clear_below_ms=8000.0),
        # timeout_s: per kind, from the kinds' declarations (``schema``).
        "device_offline": _rule("major", ticket=True, timeout_s={}, startup_grace_s=60.0),
        "agent_offline": _rule("critical", grace_s=30.0),
        "ingest_stalled": _rule("critical", after_s=30.0),
        "broker_dropping": _rule("critical", quiet_s=300.0),
        "component_crashloop": _rule("major", max_restarts=3, window_s=600.0),
        "display_fault": _rule("major", ticket=True),
        "charger_over_temperature": _rule("critical", ticket=True),
        "charger_ground_fault": _rule("critical", ticket=True),
        "charger_fan_fault": _rule("minor", ticket=True),
        "charger_mains_lost": _rule("major", ticket=True),
        "slot_over_temperature": _rule("critical", ticket=True),
        "slot_over_current": _rule("major", ticket=True),
        "slot_ground_fault": _rule("critical", ticket=True),
        "slot_battery_fault": _rule("major", ticket=True),
        "slot_communication": _rule("minor", ticket=True),
        "zone_crowded": _rule("major", dispatch=True, raise_ratio=0.9, clear_ratio=0.75, min_duration_s=120.0,
                              busy_ratio=0.7),
        "long_wait": _rule("minor", dispatch=True, max_avg_wait_s=2700.0, max_waiting=60.0, clear_factor=0.8,
                           queues={}, zone_kinds=copy.deepcopy(REGISTRATION_AND_PAYMENT_WAIT), periods=[]),
        # -- queue service levels and wheelchairs (issue #16 items 1 and 2) --------------------------
        "service_level_low": _rule("minor", dispatch=True, target_share=0.8, clear_share=0.85, min_tickets=20,
                                   target_wait_s=1800.0, abandon_after_s=14400.0, queues={},
                                   zone_kinds={k: {"target_wait_s": 1500.0} for k in ("registration", "payment")}),
        "wheelchair_low_stock": _rule("major", dispatch=True, min_available=2, clear_margin=1, charged_soc_pct=80.0),
        "crowding_forecast": _rule("warning", dispatch=True, ratio=0.9, horizon_min=60.0),
    },
}

# Tables whose keys are free (a kind, a severity, a queue id) and what each value must be.
_FREE_TABLES = {
    "escalate_after_s": "number", "repair_min": "number", "timeout_s": "number", "queues": "queue",
    "zone_kinds": "queue",
}
# What a per-queue (or per-zone-kind) table may set, by rule.
_QUEUE_KEYS_OF = {"long_wait": {"max_avg_wait_s", "max_waiting"}, "service_level_low": {"target_wait_s"}}
_QUEUE_KEYS = _QUEUE_KEYS_OF["long_wait"]
# long_wait.periods: limits by time of day, [from, to) in the site's local time ("HH:MM", to may be
# "24:00"; from > to runs past midnight), for the queues and zone kinds listed (none listed: every queue).
_PERIOD_KEYS = {"from", "to", "queues", "zone_kinds", "max_avg_wait_s", "max_waiting"}


def hhmm(text: Any, where: str) -> int:
    """Minutes after midnight of "HH:MM" (00:00 .. 24:00)."""
    if not isinstance(text, str) or len(text) != 5 or text[2] != ":" or not (text[:2] + text[3:]).isdigit():
        raise RulesError(f"{where}: expected a time \"HH:MM\", got {text!r}")
    h, m = int(text[:2]), int(text[3:])
    if m > 59 or h * 60 + m > 24 * 60:
        raise RulesError(f"{where}: not a time of day: {text!r}")
    return h * 60 + m


def _periods(given: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(given, list):
        raise RulesError(f"{where}: expected a list of tables")
    out = []
    for i, p in enumerate(given):
        w = f"{where}[{i}]"
        if not isinstance(p, dict) or set(p) - _PERIOD_KEYS or not {"from", "to"} <= set(p):
            raise RulesError(f"{w}: expected a table with from, to and any of {', '.join(sorted(_PERIOD_KEYS))}")
        hhmm(p["from"], f"{w}.from")
        hhmm(p["to"], f"{w}.to")
        item: dict[str, Any] = {"from": p["from"], "to": p["to"]}
        for key in ("queues", "zone_kinds"):
            names = p.get(key, [])
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise RulesError(f"{w}.{key}: expected a list of names")
            if key == "zone_kinds" and (bad := [n for n in names if n not in ZONE_KINDS]):
                raise RulesError(f"{w}.zone_kinds: {', '.join(bad)}: not a zone kind ({', '.join(ZONE_KINDS)})")
            item[key] = list(names)
        for key in ("max_avg_wait_s", "max_waiting"):
            if key in p:
                item[key] = _check_number(p[key], f"{w}.{key}")
        out.append(item)
    return out


class RulesError(ValueError):
    """The rules file or the edited rules are invalid."""


def _check_number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
        raise RulesError(f"{where}: expected a number >= 0, got {v!r}")
    return float(v)


def _merge(default: Any, given: Any, where: str, key: str, kinds: KindRegistry) -> Any:
    if key == "periods":
        return _periods(given, where)
    if key in _FREE_TABLES:
        if not isinstance(given, dict):
            raise RulesError(f"{where}: expected a table")
        out = dict(default)
        for k, v in given.items():
            if _FREE_TABLES[key] == "number":
                if key in ("escalate_after_s", "repair_min") and k not in SEVERITIES:
                    raise RulesError(f"{where}.{k}: not a severity ({', '.join(SEVERITIES)})")
                if key == "timeout_s" and k not in kinds:
                    raise RulesError(f"{where}.{k}: not a device kind ({', '.join(kinds.names)})")
                out[k] = _check_number(v, f"{where}.{k}")
            else:
                allowed = _QUEUE_KEYS_OF.get(where.split(".")[1] if where.count(".") >= 2 else "", _QUEUE_KEYS)
                if key == "zone_kinds" and k not in ZONE_KINDS:
                    raise RulesError(f"{where}.{k}: not a zone kind ({', '.join(ZONE_KINDS)})")
                if not isinstance(v, dict) or set(v) - allowed:
                    raise RulesError(f"{where}.{k}: expected a table with {', '.join(sorted(allowed))}")
                out[k] = {q: _check_number(x, f"{where}.{k}.{q}") for q, x in v.items()}
        return out
    if isinstance(default, dict):
        if not isinstance(given, dict):
            raise RulesError(f"{where}: expected a table")
        out = copy.deepcopy(default)
        for k, v in given.items():
            if k not in default:
                raise RulesError(f"{where}.{k}: unknown setting")
            out[k] = _merge(default[k], v, f"{where}.{k}", k, kinds)
        return out
    if isinstance(default, bool):
        if not isinstance(given, bool):
            raise RulesError(f"{where}: expected true or false, got {given!r}")
        return given
    if isinstance(default, int):
        if isinstance(given, bool) or not isinstance(given, int) or given < 1:
            raise RulesError(f"{where}: expected an integer >= 1, got {given!r}")
        return given
    if isinstance(default, float):
        return _check_number(given, where)
    if key == "severity":
        if given not in SEVERITIES:
            raise RulesError(f"{where}: expected one of {', '.join(SEVERITIES)}, got {given!r}")
        return given
    raise RulesError(f"{where}: unsupported value {given!r}")


def validate_rules(data: Any, kinds: KindRegistry = BUILTIN) -> dict[str, Any]:
    """The full settings: ``schema(kinds)`` with ``data`` applied, checked."""
    if not isinstance(data, dict):
        raise RulesError("rules: expected an object")
    out: dict[str, Any] = {}
    defaults = schema(kinds)
    for section, default in defaults.items():
        out[section] = _merge(default, data.get(section, {}), section, section, kinds)
    unknown = set(data) - set(defaults)
    if unknown:
        raise RulesError(f"{', '.join(sorted(unknown))}: unknown section")
    crowd = out["rules"]["zone_crowded"]
    if crowd["clear_ratio"] > crowd["raise_ratio"]:
        raise RulesError("rules.zone_crowded: clear_ratio must not exceed raise_ratio (hysteresis)")
    level = out["rules"]["service_level_low"]
    if level["clear_share"] < level["target_share"] or level["target_share"] > 1 or level["clear_share"] > 1:
        raise RulesError("rules.service_level_low: target_share <= clear_share <= 1 (hysteresis)")
    return out


def rules_schema(kinds: KindRegistry = BUILTIN) -> dict[str, Any]:
    """JSON Schema of the settings (for the OpenAPI document), from ``schema(kinds)``."""
    def node(default: Any, key: str) -> dict[str, Any]:
        if key in ("escalate_after_s", "repair_min"):
            return {"type": "object", "additionalProperties": False,
                    "properties": {s: {"type": "number", "minimum": 0} for s in SEVERITIES}}
        if key == "timeout_s":  # a site's plugin kinds too: the keys are checked against its kinds (_merge)
            return {"type": "object", "additionalProperties": {"type": "number", "minimum": 0},
                    "properties": {k: {"type": "number", "minimum": 0} for k in kinds.names}}
        if key in ("queues", "zone_kinds"):  # long_wait's keys or service_level_low's (_QUEUE_KEYS_OF)
            return {"type": "object", "additionalProperties": {
                "type": "object", "additionalProperties": False,
                "properties": {q: {"type": "number", "minimum": 0}
                               for q in sorted(set().union(*_QUEUE_KEYS_OF.values()))}}}
        if key == "periods":
            names = {"type": "array", "items": {"type": "string"}}
            return {"type": "array", "items": {
                "type": "object", "additionalProperties": False, "required": ["from", "to"],
                "properties": {"from": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"},
                               "to": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"},
                               "queues": names, "zone_kinds": names,
                               "max_avg_wait_s": {"type": "number", "minimum": 0},
                               "max_waiting": {"type": "number", "minimum": 0}}}}
        if isinstance(default, dict):
            return {"type": "object", "additionalProperties": False,
                    "properties": {k: node(v, k) for k, v in default.items()}}
        if isinstance(default, bool):
            return {"type": "boolean"}
        if isinstance(default, int):
            return {"type": "integer", "minimum": 1}
        if isinstance(default, float):
            return {"type": "number", "minimum": 0}
        return {"type": "string", "enum": list(SEVERITIES)}
    return node(schema(kinds), "")


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


class RuleSet:
    """The settings in force, with shortcuts the rule families use."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings

    def rule(self, name: str) -> dict[str, Any]:
        return self.settings["rules"][name]

    def enabled(self, name: str) -> bool:
        return bool(self.settings["rules"][name]["enabled"])

    @property
    def alarms(self) -> dict[str, Any]:
        return self.settings["alarms"]

    @property
    def tickets(self) -> dict[str, Any]:
        return self.settings["tickets"]

    @property
    def dispatch(self) -> dict[str, Any]:
        return self.settings["dispatch"]
