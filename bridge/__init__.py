"""eg4-mqtt-bridge: EG4 / Luxpower inverters on MQTT and Home Assistant, through the EG4 cloud."""

__version__ = "0.3.0"
PROJECT_URL = "https://github.com/eg4-mqtt-bridge/eg4-mqtt-bridge"
