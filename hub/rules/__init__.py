"""Rule families, one module each, registered in hub.rules.registry; each declares its settings and their
defaults (hub.rules.base), and a site's hub/rules.toml overrides them (hub.rules.config)."""

from hub.rules.base import RuleContext, RuleFamily, RuleSet, Signal
from hub.rules.config import RulesError, load_rules_file, validate_rules

__all__ = ["RuleContext", "RuleFamily", "RuleSet", "Signal", "RulesError", "load_rules_file", "validate_rules"]
