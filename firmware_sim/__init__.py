"""The simulated hospital: patient flow, every device of the site on its real protocol, faults on demand.

Run it with ``python -m firmware_sim run``; see docs/simulator.md. Modules: ``profiles`` (when patients
come), ``flow`` (where they go; one model for live and history), ``patients`` (who, live), ``engine``
(virtual-time simulation), ``devices/`` (what each device sends), ``links/`` (MQTT, socat lines, Modbus),
``faults``, ``control``, ``runner``, ``history``, ``load``.
"""
