"""The service shell: the daemon and its command line, health and status page, metrics, systemd, logs, the
Home Assistant add-on, the demo and the coordinator that wires the layers together."""
