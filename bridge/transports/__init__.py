"""The transports that reach an inverter (the cloud, its WiFi dongle, an RS485 adapter) and the router that
picks one per inverter and request. They import the core, never MQTT or the service."""
