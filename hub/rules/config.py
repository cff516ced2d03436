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

SEVERITIES = ("critical", "major", "minor", "warning")


def _rule(severity: str, ticket: bool = False, dispatch: bool = False, **params: Any) -> dict[str, Any]:
    return {"enabled": True, "severity": severity, "ticket": ticket, "dispatch": dispatch, **params}


def schema(kinds: KindRegistry = BUILTIN) -> dict[str, Any]:
    """Every setting with its default, for a site whose devices are of ``kinds`` (each kind's silence
    timeout defaults to its declaration's ``offline_after_s``, floorops.kinds)."""
    out = copy.deepcopy(SCHEMA)
    out["rules"]["device_offline"]["timeout_s"] = {k.name: k.offline_after_s for k in kinds}
    return out


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
                           queues={}),
        "crowding_forecast": _rule("warning", dispatch=True, ratio=0.9, horizon_min=60.0),
        # Queue screens' downlink (hub.screens, logic in hub.rules.screens): the alarm when a screen does not
        # acknowledge a command within ack_timeout_s; guide updates at most every guide_every_s per screen
        # (reroutes and notices go at once); a guide or reroute expires after expires_s.
        "screen_command_unacked": _rule("minor", ack_timeout_s=30.0, guide_every_s=30.0, expires_s=600.0),
    },
}

# Tables whose keys are free (a kind, a severity, a queue id) and what each value must be.
_FREE_TABLES = {
    "escalate_after_s": "number", "repair_min": "number", "timeout_s": "number", "queues": "queue",
}
_QUEUE_KEYS = {"max_avg_wait_s", "max_waiting"}


class RulesError(ValueError):
    """The rules file or the edited rules are invalid."""


def _check_number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
        raise RulesError(f"{where}: expected a number >= 0, got {v!r}")
    return float(v)


def _merge(default: Any, given: Any, where: str, key: str, kinds: KindRegistry) -> Any:
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
                if not isinstance(v, dict) or set(v) - _QUEUE_KEYS:
                    raise RulesError(f"{where}.{k}: expected a table with {', '.join(sorted(_QUEUE_KEYS))}")
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
        if key == "queues":
            return {"type": "object", "additionalProperties": {
                "type": "object", "additionalProperties": False,
                "properties": {q: {"type": "number", "minimum": 0} for q in sorted(_QUEUE_KEYS)}}}
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
