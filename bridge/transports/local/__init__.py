"""The inverter's WiFi dongle, spoken to directly on the local network (TCP port 8000). No cloud or MQTT
imports: a transport below the bridge, like `bridge.transports.cloud`."""
