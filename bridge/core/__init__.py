"""The core: what a setting is, the rules, the write queue, the poller and the fleet state. It imports no
transport, no MQTT and no service module (tests/unit/test_layers.py holds it to that)."""
