// Which views each role sees (the first is where it lands) and what it may do: the one place for these rules.
// The hub enforces permissions (403); the console only hides buttons a role cannot use.

export const ROLE_VIEWS = {
  monitor: ["operations", "silences"],
  floor_manager: ["dispatch", "requests", "roster"],
  maintenance: ["tickets"],
  service_desk: ["requests"],
  liaison: ["dispatch", "requests"],
  admin: ["admin", "operations", "dispatch", "tickets", "requests", "roster", "silences"],
};

const ABILITIES = {
  ackAlarm: ["monitor", "admin"],
  clearAlarm: ["monitor", "admin"],
  workTickets: ["maintenance", "admin"],
  answerDispatch: ["floor_manager", "liaison", "admin"],
  raiseRequest: ["service_desk", "liaison", "floor_manager", "admin"],
  closeComplaint: ["service_desk", "floor_manager", "admin"],
  administer: ["admin"],
  sendNotice: ["monitor", "floor_manager", "admin"],
  readReports: ["monitor", "floor_manager", "admin"],
  actOnSatisfaction: ["floor_manager", "admin"],  // satisfaction_low's corrective actions (satisfaction.act)
  planRoster: ["floor_manager", "admin"],
  editPeople: ["admin"],
  writeSilences: ["monitor", "admin"],  // silences and maintenance windows (silences.write)
};

/** The views of a role; a user who is a person of the roster (/api/me "person") also chooses their own pages. */
export function viewsFor(role, person = "") {
  const views = ROLE_VIEWS[role] || [];
  return person && views.length ? [...views, "notify"] : views;
}

export function landingView(role, person = "") {
  return viewsFor(role, person)[0] || null;
}

export function can(role, ability) {
  return (ABILITIES[ability] || []).includes(role);
}
