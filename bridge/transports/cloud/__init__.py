"""The EG4 / Luxpower cloud (WManage): the client, its answers and its slots."""

from bridge.transports.cloud.client import CloudClient, RetryPolicy

__all__ = ["CloudClient", "RetryPolicy"]
