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
    """A fault that may pass: `DATAFRAME_TIMEOUT`, busy, HTTP 5xx, timeouts, connection errors."""

    retryable = True


class MalformedResponseError(CloudError):
    """The cloud answered, but not in a shape we understand: HTML, broken JSON, wrong or missing fields."""


class ConfigError(BridgeError):
    """A configuration file that cannot be used; `problems` holds one line per problem, naming the key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
