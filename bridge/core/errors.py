"""One small, flat tree of errors. Each carries what the caller needs to decide and to tell the user."""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error this package raises on purpose."""


class CommandRefused(BridgeError, ValueError):  # noqa: N818 (a refusal, not a fault: named for what it says)
    """A command the bridge will not carry out: a payload that is not a value the setting takes, or a rule
    (limits, the model's family, read-only, starting or shutting down) that says no. Nothing was sent."""


class ValueUnreadable(BridgeError, ValueError):  # noqa: N818
    """A value read from an inverter that is not one its setting can hold: left out, never published."""


class TransportError(BridgeError):
    """A transport (the cloud, a dongle, an RS485 adapter) could not do what was asked; the subclass says
    which kind of failure. `retryable` says whether trying again may help."""

    retryable: bool = False

    def __init__(self, message: str, *, serial: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.serial = serial
        #: How many times the request was sent before this error was final.
        self.attempts = 1
        #: The transport the request went through (`cloud`, `dongle`, `modbus_tcp`, `modbus_rtu`), once the
        #: router has said.
        self.via: str | None = None


class AuthenticationError(TransportError):
    """The cloud refused the account name or password, or refused a freshly made session."""


class RefusedError(TransportError):
    """The transport answered no, for a reason that will not change on retry: the cloud's `success: false`,
    a Modbus exception from the inverter.

    `server_text` is the transport's own text, verbatim (`REMOTE_SET_ERROR`, `apiBlocked`, ...).
    """

    def __init__(self, server_text: str, *, serial: str | None = None) -> None:
        super().__init__(server_text, serial=serial)
        self.server_text = server_text
        #: Part of the write landed before the refusal (a window's first values, a smart port's mode).
        self.partial = False


class NotAllowedError(RefusedError):
    """The cloud refused this account a read it answers for others (`success: false` on a read that takes
    no value): asking again will not change it, so what the read gives is not offered for the inverter.
    `server_text` is the cloud's own words."""


class TransientError(TransportError):
    """A fault that may pass: `DATAFRAME_TIMEOUT`, busy, HTTP 5xx, timeouts, connection errors.

    `maybe_delivered` says whether the request may have reached the transport: false only when it certainly
    did not (the connection was refused, the name did not resolve) or the transport answered that it did not
    act (`DATAFRAME_TIMEOUT`), so that a write is sent again only then. `unreachable` says the transport
    itself could not be reached or did not answer, as opposed to answering with a transient code.
    """

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        serial: str | None = None,
        maybe_delivered: bool = True,
        unreachable: bool = True,
    ) -> None:
        super().__init__(message, serial=serial)
        self.maybe_delivered = maybe_delivered
        self.unreachable = unreachable


class OutcomeUnknownError(TransportError):
    """A write was sent, but whether it was applied cannot be known: no answer in time, the connection lost
    mid-request, or a server error after it arrived. It is never sent again blindly."""


class MalformedResponseError(TransportError):
    """The transport answered, but not in a shape we understand: HTML, broken JSON, wrong or missing
    fields."""


class NoTransportError(TransportError):
    """No transport reaches the inverter: no cloud account, and no dongle or adapter named for it."""


class LoginRefusedError(AuthenticationError):
    """The cloud refused the login for a reason other than the password (a locked account, an unknown
    text); `server_text` is the cloud's own words."""

    def __init__(self, server_text: str) -> None:
        super().__init__(f"the cloud refused the login: {server_text}")
        self.server_text = server_text


class UnknownInverterError(BridgeError):
    """The config names an inverter the account does not have: its limits would silently not apply."""


class NoLocalTransportError(UnknownInverterError):
    """`transport: local` for an inverter found on the account that has no dongle or adapter: the only
    transport left to it is the cloud, which `local` promises never to use."""


class BrokerRefusedError(BridgeError):
    """The MQTT broker refused the bridge's credentials at start."""


class AnotherBridgeError(BridgeError):
    """Another bridge already serves the same base topic on the broker."""


class ConfigError(BridgeError):
    """A configuration file that cannot be used; `problems` holds one line per problem, naming the key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
