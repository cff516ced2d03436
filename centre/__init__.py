"""Running the pieces together: the launcher behind ``make run`` (centre.launcher), the supervision of its
children (centre.supervision), the servers it starts (Mosquitto, influxd: centre.services) and the
deployment helpers for Docker and systemd (centre.deploy).

Above every component: it may import them all (the launcher registers the demo devices through
hub.provisioning), and none of them imports it (pyproject.toml, import-linter contract ``centre``)."""
