"""The notify file (``hub.notify_file``, e.g. hub/notify-demo.toml): escalation chains, reminders, the
channels' sections and the outbox's retry settings. Checked whole at start; errors name the entry."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from floorops.config import ConfigError
from hub.notify import Channel
from hub.notify import dingtalk, smtp, sms, wecom
from hub.roster import PERSON_ROLES

# The channel plugins, registered once: name -> factory of its config section.
CHANNEL_TYPES = {m.NAME: m for m in (smtp, wecom, dingtalk, sms)}
SEVERITIES = ("critical", "major", "minor", "warning")


@dataclass(frozen=True)
class Step:
    # "role:<roster role>" (on shift, zone's people first), "person:<roster id>", or "named": the people the
    # subject itself names (a repeat complaint's manager, hub.requests' escalate_to setting). Empty: a step
    # that pages nobody and only waits (a request's first, while the person offered the job may take it).
    to: tuple[str, ...]
    timeout_s: float  # waited for an acknowledgement before the next step


@dataclass(frozen=True)
class Chain:
    name: str
    subject: str  # "alarm", "request", ...: the kind of thing escalated
    severities: tuple[str, ...]
    types: tuple[str, ...]  # alarm types or request kinds; empty: any
    steps: tuple[Step, ...]

    def matches(self, subject: str, severity: str, type_: str) -> bool:
        return (self.subject == subject and (not self.severities or severity in self.severities)
                and (not self.types or type_ in self.types))


@dataclass(frozen=True)
class OutboxSettings:
    workers: int = 4
    retries: int = 8
    backoff_s: float = 2.0
    backoff_max_s: float = 300.0
    timeout_s: float = 10.0
    keep_s: float = 86_400.0


@dataclass
class NotifySettings:
    chains: tuple[Chain, ...] = ()
    reminder_every_s: float = 300.0  # 0: no reminders
    default_channels: tuple[str, ...] = ()
    urgent_severities: tuple[str, ...] = ("critical",)  # emergencies: never held by quiet hours or choices
    link: str = ""  # the console's address, put in messages
    channels: dict[str, Channel] = field(default_factory=dict)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)

    def chain_for(self, subject: str, severity: str, type_: str) -> Chain | None:
        """The first chain, in file order, that matches."""
        return next((c for c in self.chains if c.matches(subject, severity, type_)), None)

    def chain(self, name: str) -> Chain | None:
        return next((c for c in self.chains if c.name == name), None)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of strings")
    return tuple(value)


def _step(data: Any, where: str, people: set[str] | None) -> Step:
    if not isinstance(data, dict) or set(data) - {"to", "timeout_s"}:
        raise ConfigError(f"{where}: expected {{to = [\"role:maintenance\"], timeout_s = 300}}")
    if "to" not in data:
        raise ConfigError(f"{where}.to: name role:<role>, person:<id> or named (or [] for a step that waits)")
    to = _strings(data["to"], f"{where}.to")
    for t in to:
        kind, _, name = t.partition(":")
        if kind == "role" and name in PERSON_ROLES:
            continue
        if kind == "person" and name and (people is None or name in people):
            continue
        if t == "named":
            continue
        raise ConfigError(f"{where}.to: {t!r} is not role:<{'|'.join(PERSON_ROLES)}>, person:<a roster id> or named")
    timeout = data.get("timeout_s", 300)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
        raise ConfigError(f"{where}.timeout_s: seconds >= 0")
    return Step(to, float(timeout))


def parse_notify(data: dict[str, Any], people: set[str] | None = None, source: str = "notify") -> NotifySettings:
    known = {"chains", "reminder_every_s", "default_channels", "urgent_severities", "link", "channels", "outbox"}
    if unknown := set(data) - known:
        raise ConfigError(f"{source}: unknown keys {sorted(unknown)}")
    channels: dict[str, Channel] = {}
    for name, section in dict(data.get("channels", {})).items():
        if name not in CHANNEL_TYPES:
            raise ConfigError(f"{source}: channels.{name}: no such channel ({', '.join(CHANNEL_TYPES)})")
        if not isinstance(section, dict):
            raise ConfigError(f"{source}: channels.{name}: expected a table")
        channels[name] = CHANNEL_TYPES[name].from_config(section)
    chains = []
    for i, c in enumerate(data.get("chains", [])):
        where = f"{source}: chains[{i}]"
        if not isinstance(c, dict) or set(c) - {"name", "subject", "severities", "types", "steps"}:
            raise ConfigError(f"{where}: expected name, subject, severities, types, steps")
        severities = _strings(c.get("severities", []), f"{where}.severities")
        if bad := set(severities) - set(SEVERITIES):
            raise ConfigError(f"{where}.severities: unknown {sorted(bad)}")
        steps = c.get("steps", [])
        if not isinstance(steps, list) or not steps:
            raise ConfigError(f"{where}.steps: at least one step")
        chains.append(Chain(str(c.get("name", f"chain-{i}")), str(c.get("subject", "alarm")), severities,
                            _strings(c.get("types", []), f"{where}.types"),
                            tuple(_step(s, f"{where}.steps[{j}]", people) for j, s in enumerate(steps))))
    if len({c.name for c in chains}) != len(chains):
        raise ConfigError(f"{source}: chain names must be unique")
    outbox = data.get("outbox", {})
    try:
        ob = OutboxSettings(**outbox)
    except TypeError as exc:
        raise ConfigError(f"{source}: outbox: {exc}") from None
    reminder = data.get("reminder_every_s", 300.0)
    if isinstance(reminder, bool) or not isinstance(reminder, (int, float)) or reminder < 0:
        raise ConfigError(f"{source}: reminder_every_s: seconds >= 0 (0: no reminders)")
    defaults = _strings(data.get("default_channels", []), f"{source}: default_channels")
    return NotifySettings(tuple(chains), float(reminder), defaults,
                          _strings(data.get("urgent_severities", ["critical"]), f"{source}: urgent_severities"),
                          str(data.get("link", "")), channels, ob)


def load_notify(path: str | Path, people: set[str] | None = None) -> NotifySettings:
    """The settings of the file; none (no chains, no channels) when it does not exist."""
    p = Path(path)
    if not str(path) or not p.exists():
        return NotifySettings()
    try:
        return parse_notify(tomllib.loads(p.read_text(encoding="utf-8")), people, str(p))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: {exc}") from None
