"""The EG4 / Luxpower cloud: client, models and the errors it raises."""

from bridge.cloud.client import CloudClient, RetryPolicy
from bridge.cloud.models import Account, Energy, InverterInfo, ParameterRead, Runtime

__all__ = ["Account", "CloudClient", "Energy", "InverterInfo", "ParameterRead", "RetryPolicy", "Runtime"]
