// Live state of the console: snapshots from HTTP, then changes from the WebSocket applied as events.
// Views subscribe to "change" and re-render what they show; nothing else mutates these collections.
import { siteClock } from "./clock.js";

const COLLECTION_OF = {
  "alarm.raised": "alarms",
  "alarm.updated": "alarms",
  "alarm.cleared": "alarms",
  "ticket.updated": "tickets",
  "ticket.opened": "tickets",
  "dispatch.offered": "dispatches",
  "dispatch.updated": "dispatches",
  "request.updated": "requests",
  "zone.updated": "zones",
  "device.updated": "devices",
  "agent.updated": "agents",
};

// Events that take an entity off its collection (a device removed from service, an agent decommissioned).
const REMOVAL_OF = {
  "device.removed": "devices",
  "agent.removed": "agents",
};

const SNAPSHOT_ROUTES = {
  alarms: "/api/alarms",
  tickets: "/api/tickets",
  dispatches: "/api/dispatches",
  requests: "/api/requests",
  zones: "/api/zones",
  devices: "/api/devices",
  agents: "/api/agents",
};

// Points of live zone occupancy kept per zone (the forecast chart's actuals when the hub has no zone history).
const ZONE_TRAIL_POINTS = 720;

export function entityId(data) {
  if (!data || typeof data !== "object") return undefined;
  return data.id ?? data.zone_id ?? data.device_id ?? data.zone;
}

export class Store extends EventTarget {
  constructor(api) {
    super();
    this.api = api;
    this.alarms = new Map();
    this.tickets = new Map();
    this.dispatches = new Map();
    this.requests = new Map();
    this.zones = new Map();
    this.devices = new Map();
    this.agents = new Map();
    this.unavailable = new Set();
    this.zoneTrail = new Map();
    this.loaded = new Set();
    this.pending = [];
    this.loading = 0;
    this.applied = 0;
    this.ignored = 0;
  }

  /** Load the snapshots this role may read; a 403/404 marks that collection unavailable, not an error. */
  async load(collections) {
    this.loading += 1;
    try {
      await this.loadAll(collections);
    } finally {
      this.loading -= 1;
    }
    // Changes that arrived while the snapshots loaded are newer than or equal to them: apply in order.
    if (this.loading === 0) {
      const queued = this.pending;
      this.pending = [];
      for (const msg of queued) this.apply(msg);
    }
  }

  async loadAll(collections) {
    await Promise.all(collections.map(async (name) => {
      try {
        const rows = await this.api.get(SNAPSHOT_ROUTES[name]);
        const map = this[name];
        map.clear();
        for (const row of Array.isArray(rows) ? rows : []) {
          const id = entityId(row);
          if (id !== undefined) map.set(String(id), row);
        }
        this.unavailable.delete(name);
        if (name === "zones") for (const z of map.values()) this.trail(z, siteClock.now());
      } catch (err) {
        if (err.status === 401) throw err;
        this.unavailable.add(name);
      }
      this.loaded.add(name);
      this.emit(name, null, "snapshot");
    }));
  }

  emit(collection, item, type, msg) {
    this.dispatchEvent(new CustomEvent("change", { detail: { collection, item, type, msg } }));
  }

  /** Apply one WebSocket message. Unknown types are counted and passed on as events. */
  apply(msg) {
    const collection = COLLECTION_OF[msg.type];
    if (this.loading > 0) {
      this.pending.push(msg);
      return;
    }
    if (REMOVAL_OF[msg.type]) {
      this.remove(REMOVAL_OF[msg.type], msg);
      return;
    }
    if (!collection) {
      this.emit(msg.type, msg.data, msg.type, msg);
      return;
    }
    const id = entityId(msg.data);
    if (id === undefined) {
      this.ignored += 1;
      return;
    }
    const map = this[collection];
    const merged = { ...(map.get(String(id)) || {}), ...msg.data };
    if (msg.type === "alarm.cleared" && !merged.state) merged.state = "cleared";
    map.set(String(id), merged);
    if (collection === "zones") this.trail(merged, Date.parse(msg.ts) || siteClock.now());
    this.applied += 1;
    this.emit(collection, merged, msg.type, msg);
  }

  remove(collection, msg) {
    const id = entityId(msg.data);
    if (id === undefined) {
      this.ignored += 1;
      return;
    }
    this[collection].delete(String(id));
    this.applied += 1;
    this.emit(collection, msg.data, msg.type, msg);
  }

  trail(zone, tsMs) {
    if (typeof zone.occupancy !== "number") return;
    const id = String(entityId(zone));
    const points = this.zoneTrail.get(id) || [];
    const last = points[points.length - 1];
    if (last && last.ts === tsMs) last.v = zone.occupancy;
    else points.push({ ts: tsMs, v: zone.occupancy });
    if (points.length > ZONE_TRAIL_POINTS) points.splice(0, points.length - ZONE_TRAIL_POINTS);
    this.zoneTrail.set(id, points);
  }

  list(collection, filter = () => true) {
    return [...this[collection].values()].filter(filter);
  }
}
