"""The FloorOps hub: live state, rules, alarms, tickets, dispatch, persistence, HTTP and WebSocket API."""
