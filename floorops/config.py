"""One typed configuration for every FloorOps component.

Settings come from three layers, later ones winning:

1. the defaults written in the dataclasses below;
2. a TOML file (``floorops.toml`` at the repository root, or the file named by ``--config`` or
   ``FLOOROPS_CONFIG``), one table per section;
3. environment variables ``FLOOROPS_<SECTION>__<KEY>``, for example ``FLOOROPS_MQTT__PORT=1884``
   or ``FLOOROPS_HUB__HTTP_PORT=9090``; a table-valued setting takes JSON
   (``FLOOROPS_EDGE__OCCUPANCY_ZONE_FACTORS='{"lab": 1.1}'``).

Relative paths are resolved against ``var_dir`` (generated state: data, secrets, logs), so a test can
point a whole control centre at a temporary folder by changing one value.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
import typing
from dataclasses import dataclass, field
from datetime import date as _date
from pathlib import Path
from typing import Any, Mapping

from floorops.contract import ID_RE

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_FILE = REPO_ROOT / "floorops.toml"
ENV_PREFIX = "FLOOROPS_"


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type."""


@dataclass
class SiteConfig:
    """Which hospital site this installation serves."""

    id: str = "demo"
    # Site description: buildings, zones, queues, time zone, device inventory (see docs/site.md).
    file: str = str(REPO_ROOT / "floorops" / "sites" / "demo.toml")
    # The site's own device kinds, besides the built-in ones: importable modules that each declare
    # ``KIND = floorops.kinds.DeviceKind(...)`` (docs/device-kinds.md). Every process loads the same list.
    kind_plugins: list[str] = field(default_factory=list)


@dataclass
class MqttConfig:
    """Where the broker listens; each component has its own credentials in its own section."""

    host: str = "127.0.0.1"
    port: int = 1883  # plain listener, bound to loopback only (tools and components on the broker's host)
    keepalive_s: int = 30
    # TLS (docs/security.md "TLS"): the broker's TLS listener (devices on the LAN; ``tls_bind`` empty: every
    # address), and whether FloorOps' own clients (edge, hub, CLIs) use it instead of the plain loopback port.
    tls_port: int = 8883
    tls_bind: str = ""
    tls: bool = False
    cafile: str = ""  # CA the clients trust; empty: the private CA, <tls.dir>/ca.crt


@dataclass
class TlsConfig:
    """The private CA and server certificate (floorops/tls.py), issued on first start under ``dir``."""

    enabled: bool = True  # the broker's TLS listener and the simulated devices' TLS
    dir: str = "tls"
    # Host names or IP addresses the server certificate names besides localhost, 127.0.0.1 and ::1 (the
    # broker's and the console's names on the hospital LAN). From the environment: JSON or comma-separated.
    extra_names: list[str] = field(default_factory=list)
    server_days: int = 825
    ca_days: int = 3650
    warn_days: int = 30  # a warning is logged at every start once a certificate expires within this


@dataclass
class BrokerConfig:
    """How the project runs its own Mosquitto (``make run`` and the tests)."""

    admin_username: str = "floorops-admin"
    admin_password: str = ""
    # QoS 1 queue per persistent session, bounded in messages and bytes (the arithmetic: docs/security.md
    # "Broker"). Mosquitto's default (1000) drops messages under load; past either bound it drops and counts.
    max_queued_messages: int = 2_000_000
    max_queued_bytes: int = 268_435_456
    # Largest MQTT packet accepted: the device contract's 256 KiB payload plus 64 KiB for topic and headers.
    max_packet_size: int = 327_680
    max_inflight_messages: int = 1000
    autosave_interval_s: int = 10
    sys_interval_s: int = 10  # how often the broker publishes $SYS counters (the hub's broker_dropping alarm)
    data_dir: str = "mosquitto"


@dataclass
class InfluxConfig:
    """InfluxDB through its 1.x HTTP API (/write, /query): served by 1.x, 2.x (v1 compat) and 3.x."""

    url: str = "http://127.0.0.1:8086"
    database: str = "floorops"
    username: str = ""
    password: str = ""
    # Retention policies, applied by the edge at start (floorops/retention.py, docs/privacy.md; InfluxDB 1.x):
    # the database's default policy (e.g. "182d"; not shorter than models.history_days; empty: left as
    # it is, by default infinite) and, if set, a shorter one for raw hashed sightings (wifi_sighting, e.g. "2d").
    retention: str = ""
    sighting_retention: str = ""
    timeout_s: float = 10.0
    data_dir: str = "influxdb"
    rpc_port: int = 8088


@dataclass
class EdgeConfig:
    """The edge agent: device inputs, validation, privacy, delivery."""

    agent_id: str = "edge-1"
    mqtt_username: str = "floorops-edge-1"
    mqtt_password: str = ""
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9101
    buffer_path: str = "edge/buffer.sqlite"
    buffer_max_rows: int = 5_000_000
    # Quota of the buffer's stored bytes: past it (or on a full disk) the edge stops taking device messages,
    # unacknowledged, so the broker keeps them; it resumes once the buffer drains. 0: no quota.
    buffer_max_bytes: int = 1_000_000_000
    deadletter_path: str = "edge/deadletters.sqlite"
    deadletter_max_rows: int = 100_000
    mac_key_dir: str = "edge/keys"
    batch_max_points: int = 5000
    batch_max_delay_s: float = 0.5
    clock_skew_bound_s: float = 120.0
    # The occupancy estimator's window and RSSI bound; the calibration file must have been fitted with both.
    occupancy_window_s: float = 120.0
    occupancy_rssi_min: int = -80
    occupancy_publish_s: float = 60.0
    # Patient flow between zones and back-and-forth wandering (edge/processors/flows.py, docs/privacy.md):
    # aggregates per interval; a count under flows_k phones is never published (carried, then "other").
    # 15 minutes, the bin of Wi-Fi footfall reports and the plan's replay step: at 5 a pair of 100 people an
    # hour has ~5 followed phones per interval, so the k rule carried its count over and over, moving walks
    # across the hour (docs/benchmarks.md, "Patient flow").
    flows_interval_s: float = 900.0
    flows_k: int = 5
    flows_track_idle_s: float = 900.0
    flows_wander_window_s: float = 600.0
    flows_service_min_s: float = 300.0
    flows_lateness_s: float = 60.0  # an interval is closed once sightings this much later came in
    # People per followed phone, pooled over the intervals with this half-life (0: each interval's own): the
    # occupancy estimate behind it is off by up to ~20 % in a given hour, while the share of people with a
    # followable phone changes slowly (docs/benchmarks.md, "Patient flow").
    flows_scale_halflife_s: float = 14400.0
    # Visits no probe heard, estimated from those heard once and twice over this half-life (0: not estimated;
    # edge/processors/unheard_visits.py).
    flows_unheard_halflife_s: float = 3600.0
    # The occupancy calibration (per-zone weights, fitted with `python -m centre calibrate --out FILE`; JSON,
    # edge/calibration_store.py, docs/edge.md): relative paths are under var_dir. The default is the demo
    # site's, beside its site file. One that does not fit the site is logged, counted and not used.
    occupancy_calibration: str = str(REPO_ROOT / "floorops" / "sites" / "demo.occupancy.json")
    # The flow calibration (per zone, the share of back-and-forth detours the edge sees; `python -m centre
    # calibrate-flows --out FILE`, edge/flow_calibration.py): as the occupancy calibration. Without one that
    # fits, wandering is published as seen (under-counted, docs/benchmarks.md "Patient flow").
    flow_calibration: str = str(REPO_ROOT / "floorops" / "sites" / "demo.flows.json")
    # Serial inputs: "path" entries; see [[edge.modbus]] / [[edge.serial_probes]] in floorops.toml.
    modbus: list[dict[str, Any]] = field(default_factory=list)
    serial_probes: list[dict[str, Any]] = field(default_factory=list)
    modbus_poll_s: float = 5.0


@dataclass
class HubConfig:
    """The hub: live state, rules, alarms, tickets, dispatch, HTTP and WebSocket API."""

    http_host: str = "127.0.0.1"
    http_port: int = 8080
    db_path: str = "hub/hub.sqlite"
    mqtt_username: str = "floorops-hub"
    mqtt_password: str = ""
    token_ttl_s: int = 12 * 3600
    rules_file: str = str(REPO_ROOT / "hub" / "rules.toml")
    roster_file: str = str(REPO_ROOT / "hub" / "roster-demo.toml")
    # Escalation chains, reminders, notification channels (SMTP, WeCom, DingTalk, SMS) and their outbox
    # (hub/notify, docs/notifications.md); a missing file: no chains, nobody paged beyond the console.
    notify_file: str = str(REPO_ROOT / "hub" / "notify-demo.toml")
    # Receivers of alarm and dispatch events (hub/webhooks.py, docs/security.md): a URL (unsigned, warned
    # at start) or a table {url, secret = "whsec_<base64>", events = [...]} (Standard Webhooks signature).
    webhooks: list[str | dict[str, Any]] = field(default_factory=list)
    # Signing key of every receiver without its own ``secret`` ("whsec_" + base64); empty: taken from
    # <var_dir>/secrets.json ("webhook", written by make run), else those deliveries are unsigned.
    webhook_secret: str = ""
    webhook_workers: int = 4  # fixed pool of delivering tasks, however many events wait
    webhook_queue_max: int = 10_000  # undelivered rows kept; beyond, the least important are dropped (counted)
    webhook_timeout_s: float = 5.0  # per POST
    webhook_retries: int = 8  # after the first attempt; then the delivery ends as failed (counted)
    webhook_backoff_s: float = 1.0  # first retry delay, doubled each time (with jitter) up to the maximum
    webhook_backoff_max_s: float = 300.0
    webhook_keep_s: float = 86_400.0  # delivered and failed rows kept this long in the outbox, then pruned
    # Device credentials written by provisioning, read by the simulator (mode 600).
    credentials_file: str = "devices.json"
    # How long an HTTP write action waits (async, retrying) for the database's write lock held by another
    # process (a backup, the CLI) before answering 503.
    db_busy_wait_s: float = 5.0
    # Login and HTTP (docs/security.md "Login and HTTP"). Addresses (or CIDRs) of reverse proxies whose
    # X-Forwarded-For / X-Forwarded-Proto the hub believes; empty: the TCP peer is the client.
    trusted_proxies: list[str] = field(default_factory=list)
    # Origins allowed to open /ws (e.g. "https://ops.example.org"); empty: the hub's own origin only.
    ws_origins: list[str] = field(default_factory=list)
    # HTTPS: PEM certificate (chain) and key; both empty: plain HTTP (loopback, or behind the TLS proxy).
    tls_cert: str = ""
    tls_key: str = ""
    cookie_secure: str = "auto"  # auto (Secure when served over HTTPS or a trusted TLS proxy), always, never
    login_workers: int = 1  # threads verifying passwords (argon2, ~50 ms of a core each), off the event loop
    login_queue: int = 64  # logins waiting (at most 2 s) for a thread; more, or longer, are answered 503


CHECK_KINDS = ("http", "tcp")


@dataclass
class SystemCheck:
    """One of the hospital's systems (HIS, PACS, the queue system, the app back end) that the hub checks at
    intervals (hub/systems.py), after blackbox_exporter's http/tcp probes and Uptime Kuma's monitors. The
    response time goes to InfluxDB (``system_check``); the rules system_slow and system_down alarm on it."""

    name: str = ""  # [A-Za-z0-9_-]{1,64}: the alarm's source is ``system:<name>``
    kind: str = "http"  # "http" (GET the URL) or "tcp" (open a connection to host:port)
    target: str = ""  # http: the URL; tcp: "host:port"
    interval_s: float = 30.0
    # A check that takes longer is a failure ("timed out"). Keep it above the system_slow threshold
    # (10 s by default), or a slow system is reported down instead of slow.
    timeout_s: float = 20.0
    # http: status codes that count as up (empty: 200-399, as blackbox_exporter's default), and a word the
    # body must contain (empty: not checked; the first 1 MiB is read).
    expect_status: list[int] = field(default_factory=list)
    keyword: str = ""
    tls_verify: bool = True  # https: verify the certificate (false: self-signed systems)
    # https: a certificate expiring within this many days fails the check (0: not checked).
    cert_min_days: float = 0.0
    # Overrides the system_slow rule's threshold for this system (0: the rule's threshold_ms).
    slow_ms: float = 0.0

    def validate(self, where: str) -> None:
        if not ID_RE.match(self.name):
            raise ConfigError(f"{where}.name: expected [A-Za-z0-9_-]{{1,64}}, got {self.name!r}")
        if self.kind not in CHECK_KINDS:
            raise ConfigError(f"{where}.kind: expected one of {', '.join(CHECK_KINDS)}, got {self.kind!r}")
        if self.kind == "http" and not self.target.startswith(("http://", "https://")):
            raise ConfigError(f"{where}.target: an http check needs an http:// or https:// URL, got {self.target!r}")
        if self.kind == "tcp":
            host, _, port = self.target.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError(f"{where}.target: a tcp check needs host:port, got {self.target!r}")
        for key in ("interval_s", "timeout_s"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"{where}.{key}: expected a number > 0")
        for key in ("cert_min_days", "slow_ms"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{where}.{key}: expected a number >= 0")
        if any(isinstance(c, bool) or not isinstance(c, int) or not 100 <= c <= 599 for c in self.expect_status):
            raise ConfigError(f"{where}.expect_status: expected HTTP status codes (100-599)")


@dataclass
class SystemsConfig:
    """The hospital's systems the hub watches: ``[[systems.checks]]`` tables in the TOML file, or
    ``FLOOROPS_SYSTEMS__CHECKS`` as a JSON list of objects. Empty: nothing is checked."""

    checks: list[SystemCheck] = field(default_factory=list)


@dataclass
class ReportsConfig:
    """The daily report (hub/report_schedule.py, docs/operations.md "Reports"): at ``daily_at`` (site time)
    the hub builds the day's report and sends it through the notify outbox to ``daily_to``."""

    daily_at: str = "18:00"  # HH:MM, site local time
    daily_day: str = "today"  # "today" (the day so far, at daily_at) or "yesterday" (the whole day before)
    # "person:<roster id>" (e-mail with the CSV and the printable page attached, or their other channels) or
    # "channel:<wecom|dingtalk>" (the group robot, a Markdown summary); empty: no daily report.
    daily_to: list[str] = field(default_factory=list)
    daily_lang: str = "zh"  # "zh" or "en"


@dataclass
class ClockConfig:
    """The centre's one clock (floorops/clock.py). Empty ``start`` and ``speed`` 1: the real wall clock.

    A demo clock starts the site's day at ``start`` (HH:MM, site local) on ``date`` (YYYY-MM-DD, site local;
    empty: the site's date at the anchor) and runs ``speed`` times real time. ``anchor`` is the real epoch
    second at which the site's clock reads ``start``: ``make run`` (centre.launcher) sets it once and passes it
    to every process, so they all agree; 0 means "when this process starts"."""

    start: str = ""
    speed: float = 1.0
    date: str = ""
    anchor: float = 0.0

    def validate(self, where: str = "clock") -> None:
        if self.start:
            parts = self.start.split(":")
            if (len(parts) != 2 or not all(p.isdigit() and len(p) == 2 for p in parts)
                    or not (0 <= int(parts[0]) <= 23 and 0 <= int(parts[1]) <= 59)):
                raise ConfigError(f"{where}.start: expected HH:MM (00:00 to 23:59), got {self.start!r}")
        if self.date:
            try:
                _date.fromisoformat(self.date)
            except ValueError:
                raise ConfigError(f"{where}.date: expected YYYY-MM-DD, got {self.date!r}") from None
            if not self.start:
                raise ConfigError(f"{where}.date: needs {where}.start (the site's time of day on that date)")
        if not (self.speed > 0 and self.speed <= 10_000):  # also false for NaN
            raise ConfigError(f"{where}.speed: expected a number above 0 and at most 10000, got {self.speed!r}")
        if not self.anchor >= 0:
            raise ConfigError(f"{where}.anchor: expected epoch seconds (0: when the process starts), "
                              f"got {self.anchor!r}")

    @property
    def demo(self) -> bool:
        return bool(self.start) or self.speed != 1.0


@dataclass
class SimConfig:
    """The simulated hospital."""

    seed: int = 1
    # The simulator alone, overriding [clock] (tests and benchmarks that drive only the devices fast): empty
    # ``start`` and ``speed`` 1 mean "the centre's clock" ([clock], floorops/clock.py).
    speed: float = 1.0
    start: str = ""  # ISO 8601 local start of the simulator's own virtual clock
    serial_dir: str = "sim/serial"
    control_port: int = 8091
    # The hospital's mail server, where the hub's e-mail pages arrive (firmware_sim/inbox.py; make run picks a
    # free port and points the hub at it); 0: none. Its WeCom/DingTalk robots and SMS gateway are on control_port.
    smtp_port: int = 0
    dingtalk_secret: str = ""  # the DingTalk robot's signing secret (SEC...): empty accepts unsigned messages
    # Random faults (mean per device per virtual day) and bad input (per device per virtual hour); 0 disables.
    faults_per_device_day: float = 0.01  # a hospital meeting its 5 % target on most days (docs/simulator.md)
    bad_input_per_device_hour: float = 0.1
    repair_min: float = 20.0  # mean virtual minutes until the simulated technician clears a fault
    truth_file: str = "sim/ground_truth.csv"  # live ground truth per zone and 15 minutes; empty: not written
    # At the end of a run each networked device says "offline" (an orderly power-down). ``make run`` sets it
    # false: a hospital's devices stay on when its control centre stops, they only disconnect.
    devices_off_on_stop: bool = True
    # Devices connect over TLS (mqtt.tls_port, trusting mqtt.cafile or the private CA) when tls.enabled.
    mqtt_tls: bool = True


@dataclass
class ModelsConfig:
    """Forecasting and staffing."""

    dir: str = "models"
    bucket_min: int = 15
    forecast_every_s: int = 900
    # Training: how much history to read, how many newest days the saved backtest scores cover, how many
    # saved models to keep.
    history_days: int = 182
    test_days: int = 14
    keep: int = 10
    max_rows: int = 50_000  # training rows sampled per target: bounds training time
    # Staffing (Erlang C): a share `service_level` of patients called within `target_wait_s`, staff busy at
    # most `max_occupancy` of the time, rosters grossed up for `shrinkage` (breaks, absence).
    target_wait_s: float = 900.0
    service_level: float = 0.8
    max_occupancy: float = 0.85
    shrinkage: float = 0.3


@dataclass
class SupervisorConfig:
    """How ``make run`` restarts a crashed child: backoff from ``restart_initial_s``, doubling to
    ``restart_max_s``, back to the start once the child has run ``steady_s`` without crashing."""

    restart_initial_s: float = 0.5
    restart_max_s: float = 30.0
    steady_s: float = 60.0
    # The launcher's broker account: it may only publish floorops/<site>/supervisor/# (restart notices).
    mqtt_username: str = "floorops-supervisor"
    mqtt_password: str = ""


@dataclass
class Config:
    """The whole configuration; ``path()`` resolves a relative setting against ``var_dir``."""

    var_dir: str = str(REPO_ROOT / "var")
    log_level: str = "INFO"
    log_format: str = "json"  # "json" or "text"
    site: SiteConfig = field(default_factory=SiteConfig)
    clock: ClockConfig = field(default_factory=ClockConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    tls: TlsConfig = field(default_factory=TlsConfig)
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    influx: InfluxConfig = field(default_factory=InfluxConfig)
    edge: EdgeConfig = field(default_factory=EdgeConfig)
    hub: HubConfig = field(default_factory=HubConfig)
    sim: SimConfig = field(default_factory=SimConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    supervisor: SupervisorConfig = field(default_factory=SupervisorConfig)
    systems: SystemsConfig = field(default_factory=SystemsConfig)
    reports: ReportsConfig = field(default_factory=ReportsConfig)

    def path(self, value: str) -> Path:
        """A configured path: absolute as written, or relative to ``var_dir``."""
        p = Path(value)
        return p if p.is_absolute() else Path(self.var_dir) / p

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _coerce(value: Any, typ: Any, where: str) -> Any:
    """Check or convert one value to the annotated type, with an error that names the key."""
    origin = typing.get_origin(typ)
    if origin is list:
        if isinstance(value, str):  # from the environment: JSON, or comma-separated words
            try:
                value = json.loads(value) if value.strip().startswith("[") else [
                    v.strip() for v in value.split(",") if v.strip()]
            except ValueError as exc:
                raise ConfigError(f"{where}: expected a JSON list, got {value!r} ({exc})") from None
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        item_type = (typing.get_args(typ) or (Any,))[0]
        if dataclasses.is_dataclass(item_type):
            return [_record(item_type, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return value
    if origin is dict:
        if isinstance(value, str):  # from the environment: JSON, e.g. '{"lab": 1.1}'
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ConfigError(f"{where}: expected a JSON object, got {value!r} ({exc})") from None
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table (a JSON object from the environment), "
                              f"got {type(value).__name__}")
        return value
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
            return value.lower() in {"1", "true", "yes", "on"}
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if typ is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
    if typ is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if typ is str:
        if not isinstance(value, (str, int, float)):
            raise ConfigError(f"{where}: expected a string, got {type(value).__name__}")
        return str(value)
    return value


def _record(typ: Any, value: Any, where: str) -> Any:
    """One item of a list of records (e.g. a ``[[systems.checks]]`` table), typed and validated."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and isinstance(value, typ):
        value = dataclasses.asdict(value)
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a table, got {type(value).__name__}")
    item = typ()
    _apply(item, value, f"{where}.")
    if hasattr(item, "validate"):
        item.validate(where)
    return item


def _apply(obj: Any, values: Mapping[str, Any], where: str) -> None:
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in dataclasses.fields(obj)}
    for key, value in values.items():
        if key not in names:
            raise ConfigError(f"{where}{key}: unknown setting")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}{key}: expected a table")
            _apply(current, value, f"{where}{key}.")
        else:
            setattr(obj, key, _coerce(value, hints[key], f"{where}{key}"))


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """``FLOOROPS_HUB__HTTP_PORT=9090`` becomes ``{"hub": {"http_port": "9090"}}``."""
    tree: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == "FLOOROPS_CONFIG":
            continue
        parts = name[len(ENV_PREFIX):].lower().split("__")
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return tree


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Defaults, then the TOML file, then environment overrides."""
    env = os.environ if env is None else env
    cfg = Config()
    file = Path(path or env.get("FLOOROPS_CONFIG") or DEFAULT_CONFIG_FILE)
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: {exc}") from None
        _apply(cfg, data, "")
    elif path is not None:
        raise ConfigError(f"{file}: no such configuration file")
    _apply(cfg, _env_overrides(env), "")
    cfg.clock.validate()
    _fill_secrets(cfg)
    return cfg


def _fill_secrets(cfg: Config) -> None:
    """Passwords left empty are taken from ``<var_dir>/secrets.json`` (mode 600, written by ``make run``),
    so that command-line tools run beside ``make run`` need no flags; explicit settings always win."""
    path = Path(cfg.var_dir) / "secrets.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if not isinstance(data, dict):
        return
    for section, key, name in (("broker", "admin_password", "broker_admin"), ("edge", "mqtt_password", "edge"),
                               ("hub", "mqtt_password", "hub"), ("supervisor", "mqtt_password", "supervisor"),
                               ("hub", "webhook_secret", "webhook")):
        obj = getattr(cfg, section)
        if not getattr(obj, key) and isinstance(data.get(name), str):
            setattr(obj, key, data[name])


def dump_toml(cfg: Config) -> str:
    """Write a configuration back as TOML (used to hand a generated config to child processes)."""

    def scalar(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {scalar(x)}" for k, x in v.items()) + "}"
        raise TypeError(type(v))

    top: list[str] = []
    tables: list[str] = []
    for key, value in cfg.to_dict().items():
        if isinstance(value, dict):
            tables.append(f"[{key}]")
            tables.extend(f"{k} = {scalar(v)}" for k, v in value.items())
            tables.append("")
        else:
            top.append(f"{key} = {scalar(value)}")
    return "\n".join(top + [""] + tables)
