"""A rule is declared once, in its module: its settings' defaults, validation and JSON Schema follow."""

from __future__ import annotations

import pytest

from floorops.kinds import BUILTIN
from hub.rules.base import Rule, RuleContext, RuleFamily, RuleSet, Setting, Signal
from hub.rules.config import RulesError, rules_schema, validate_rules
from hub.rules.registry import FAMILIES


def _evaluate(ctx: RuleContext) -> list[Signal]:
    """Low stock of wheelchairs at a zone: what a new rule module's one function looks like."""
    rule = ctx.rules.rule("wheelchair_low_stock")
    rec = ctx.rec
    if rec is None or not isinstance(rec.data.get("available"), int):
        return []
    low = rec.data["available"] < rule["min_available"]
    return [Signal("wheelchair_low_stock", rec.zone, low, zone=rec.zone, kind="zone")]


LOW_STOCK = RuleFamily("wheelchairs", per_kind=True, evaluate=_evaluate, rules=(
    Rule("wheelchair_low_stock", "minor", "fewer wheelchairs ready than min_available", dispatch=True, settings=(
        Setting("min_available", 2, "raise below this many ready wheelchairs", type="integer"),
        Setting("per_zone", {}, "per zone id, its own bound", type="per_queue", fields=("min_available",)),
        Setting("recheck_s", 300.0, "look again after this long (s)", minimum=30),
    )),
))
WITH_LOW_STOCK = (*FAMILIES, LOW_STOCK)


def test_a_declared_rule_gets_its_defaults_and_the_common_keys() -> None:
    settings = validate_rules({}, BUILTIN, WITH_LOW_STOCK)["rules"]["wheelchair_low_stock"]
    assert settings == {"enabled": True, "severity": "minor", "ticket": False, "dispatch": True,
                        "min_available": 2, "per_zone": {}, "recheck_s": 300.0}
    assert "wheelchair_low_stock" not in validate_rules({})["rules"]  # only where it is registered


def test_a_site_overrides_some_keys_and_keeps_the_rest() -> None:
    given = {"rules": {"wheelchair_low_stock": {"min_available": 4, "severity": "major",
                                                "per_zone": {"er": {"min_available": 6}}}}}
    settings = validate_rules(given, BUILTIN, WITH_LOW_STOCK)["rules"]["wheelchair_low_stock"]
    assert (settings["min_available"], settings["severity"], settings["recheck_s"]) == (4, "major", 300.0)
    assert settings["per_zone"] == {"er": {"min_available": 6.0}}
    assert validate_rules(given, BUILTIN, WITH_LOW_STOCK)["rules"]["card_jam"]["severity"] == "major"


@pytest.mark.parametrize("bad,key", [
    ({"min_available": 0}, "rules.wheelchair_low_stock.min_available"),  # integers are >= 1
    ({"min_available": 2.5}, "rules.wheelchair_low_stock.min_available"),
    ({"recheck_s": 10}, "rules.wheelchair_low_stock.recheck_s"),  # below its declared minimum 30
    ({"severity": "dire"}, "rules.wheelchair_low_stock.severity"),
    ({"per_zone": {"er": {"max": 1}}}, "rules.wheelchair_low_stock.per_zone.er"),
    ({"min_availabel": 3}, "rules.wheelchair_low_stock.min_availabel"),  # a typo is refused, not ignored
])
def test_a_bad_value_is_refused_naming_the_key(bad: dict[str, object], key: str) -> None:
    with pytest.raises(RulesError) as err:
        validate_rules({"rules": {"wheelchair_low_stock": bad}}, BUILTIN, WITH_LOW_STOCK)
    assert str(err.value).startswith(key + ":")


def test_a_declared_rule_appears_in_the_json_schema_with_its_help() -> None:
    node = rules_schema(BUILTIN, WITH_LOW_STOCK)["properties"]["rules"]["properties"]["wheelchair_low_stock"]
    assert node["additionalProperties"] is False
    assert node["description"] == "fewer wheelchairs ready than min_available"
    props = node["properties"]
    assert {"enabled", "severity", "ticket", "dispatch", "min_available", "per_zone", "recheck_s"} == set(props)
    assert props["min_available"]["type"] == "integer" and props["min_available"]["minimum"] == 1
    assert props["recheck_s"]["minimum"] == 30
    assert props["severity"]["enum"] == ["critical", "major", "minor", "warning"]


def test_the_declared_rule_runs_over_its_context() -> None:
    from floorops.topics import EdgeRecord
    rules = RuleSet(validate_rules({}, BUILTIN, WITH_LOW_STOCK))
    rec = EdgeRecord.from_json(b'{"device_id": "wc-1", "kind": "kiosk", "zone": "er", "channel": "telemetry", '
                               b'"ts": 1, "seq": 1, "data": {"available": 1}}')
    [sig] = LOW_STOCK.evaluate(RuleContext(rules=rules, now=0.0, rec=rec))
    assert (sig.type, sig.source, sig.active) == ("wheelchair_low_stock", "er", True)


def test_every_registered_rule_is_declared_once_and_every_kind_names_a_registered_family() -> None:
    names = [r.name for f in FAMILIES for r in f.rules]
    assert len(names) == len(set(names))
    with pytest.raises(ValueError, match="twice"):
        validate_rules({}, BUILTIN, (*FAMILIES, LOW_STOCK, LOW_STOCK))
    per_kind = {f.name for f in FAMILIES if f.per_kind}
    assert {r for k in BUILTIN for r in k.rules} <= per_kind
