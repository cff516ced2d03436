"""The simulator's wires: MQTT clients, pseudo-terminal serial lines (socat), Modbus RTU buses."""
