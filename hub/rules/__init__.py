"""Rule families, one module each; every rule's settings live in hub/rules.toml (hub.rules.config)."""

from hub.rules.base import Signal
from hub.rules.config import RuleSet, RulesError, load_rules_file, validate_rules

__all__ = ["Signal", "RuleSet", "RulesError", "load_rules_file", "validate_rules"]
