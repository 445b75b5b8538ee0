"""MQTT: the topic layout, Home Assistant discovery payloads, and the link to the broker."""
