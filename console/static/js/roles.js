// Which views each role sees (the first is where it lands) and what it may do: the one place for these rules.
// The hub enforces permissions (403); the console only hides buttons a role cannot use.

export const ROLE_VIEWS = {
  monitor: ["operations"],
  floor_manager: ["dispatch", "requests", "roster"],
  maintenance: ["tickets"],
  service_desk: ["requests"],
  liaison: ["dispatch", "requests"],
  admin: ["admin", "operations", "dispatch", "tickets", "requests", "roster"],
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
};

export function viewsFor(role) {
  return ROLE_VIEWS[role] || [];
}

export function landingView(role) {
  return viewsFor(role)[0] || null;
}

export function can(role, ability) {
  return (ABILITIES[ability] || []).includes(role);
}
