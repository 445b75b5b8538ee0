"""One small, flat tree of errors. Each carries what the caller needs to decide and to tell the user."""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error this package raises on purpose."""


class ParameterValueError(BridgeError, ValueError):
    """A value that must not be written: not a number, not a whole number, or out of range."""


class CloudError(BridgeError):
    """The cloud could not do what was asked. `retryable` says whether trying again may help."""

    retryable: bool = False

    def __init__(self, message: str, *, serial: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.serial = serial
        #: How many times the request was sent before this error was final.
        self.attempts = 1
        #: Which way the request went (`cloud` or `local`), once a transport has said.
        self.via: str | None = None


class AuthenticationError(CloudError):
    """The cloud refused the account name or password, or refused a freshly made session."""


class RefusedError(CloudError):
    """The cloud answered `success: false` with a reason that will not change on retry.

    `server_text` is the cloud's own text, verbatim (`REMOTE_SET_ERROR`, `apiBlocked`, ...).
    """

    def __init__(self, server_text: str, *, serial: str | None = None) -> None:
        super().__init__(server_text, serial=serial)
        self.server_text = server_text


class TransientError(CloudError):
    """A fault that may pass: `DATAFRAME_TIMEOUT`, busy, HTTP 5xx, timeouts, connection errors.

    `maybe_delivered` says whether the request may have reached the cloud: false only when it certainly did
    not (the connection was refused, the name did not resolve) or the cloud answered that it did not act
    (`DATAFRAME_TIMEOUT`), so that a write is sent again only then. `unreachable` says the cloud itself could
    not be reached or did not answer, as opposed to answering with a transient code.
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


class OutcomeUnknownError(CloudError):
    """A write was sent, but whether the cloud applied it cannot be known: no answer in time, the connection
    lost mid-request, or a server error after it arrived. It is never sent again blindly."""


class MalformedResponseError(CloudError):
    """The cloud answered, but not in a shape we understand: HTML, broken JSON, wrong or missing fields."""


class LoginRefusedError(AuthenticationError):
    """The cloud refused the login for a reason other than the password (a locked account, an unknown
    text); `server_text` is the cloud's own words."""

    def __init__(self, server_text: str) -> None:
        super().__init__(f"the cloud refused the login: {server_text}")
        self.server_text = server_text


class UnknownInverterError(BridgeError):
    """The config names an inverter the account does not have: its limits would silently not apply."""


class NoLocalWayError(UnknownInverterError):
    """`transport: local` for an inverter found on the account that has no dongle: the only way left to it
    is the cloud, which `local` promises never to use."""


class BrokerRefusedError(BridgeError):
    """The MQTT broker refused the bridge's credentials at start."""


class AnotherBridgeError(BridgeError):
    """Another bridge already serves the same base topic on the broker."""


class ConfigError(BridgeError):
    """A configuration file that cannot be used; `problems` holds one line per problem, naming the key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
