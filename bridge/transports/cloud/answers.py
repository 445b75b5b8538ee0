"""The cloud's answers: one HTTP answer turned into a payload or the typed error it stands for, a read's
parameters, and the login answer with its plants and parallel groups."""

from __future__ import annotations

import sys
from collections.abc import Collection, Mapping
from typing import Any, Final

from pydantic import Field, ValidationError

from bridge.core import safejson
from bridge.core.errors import AuthenticationError, MalformedResponseError, RefusedError, TransientError
from bridge.core.readings import InverterInfo, ParameterValue, VendorModel, first_problem


class ParallelGroup(VendorModel):
    """A parallel group of a plant, as the login answer names it: its name and its first inverter."""

    name: str = Field(alias="parallelGroup")
    first_serial: str | None = Field(default=None, alias="parallelFirstDeviceSn")


class Plant(VendorModel):
    """A plant (a site) of the account: its inverters and parallel groups, from the login answer."""

    plant_id: int = Field(alias="plantId")
    name: str
    inverters: tuple[InverterInfo, ...] = ()
    parallel_groups: tuple[ParallelGroup, ...] = Field(default=(), alias="parallelGroups")


class Account(VendorModel):
    """The login answer: who we are and every device of every plant."""

    user_id: int = Field(alias="userId")
    username: str | None = None
    role: str | None = None
    readonly: bool = False
    plants: tuple[Plant, ...] = ()

    @property
    def inverters(self) -> tuple[InverterInfo, ...]:
        return tuple(inverter for plant in self.plants for inverter in plant.inverters)


def parse_account(payload: Mapping[str, Any]) -> Account:
    """The login answer as an `Account`, each inverter tagged with its plant and parallel group."""
    try:
        account = Account.model_validate(payload)
    except ValidationError as exc:
        raise MalformedResponseError(f"login answer has unexpected fields: {first_problem(exc)}") from exc
    return account.model_copy(update={"plants": tuple(_tag_plant(plant) for plant in account.plants)})


def _tag_plant(plant: Plant) -> Plant:
    # Inverters do not carry their group; a group is named by its first device, which is how the
    # login answer ties a plant's inverters together.
    group = plant.parallel_groups[0].name if len(plant.parallel_groups) == 1 else None
    tagged = tuple(
        inverter.model_copy(
            update={
                "plant_id": plant.plant_id,
                "parallel_group": group if inverter.has_battery_parameters else None,
            }
        )
        for inverter in plant.inverters
    )
    return plant.model_copy(update={"inverters": tagged})


#: Texts of `success: false` answers that may pass if asked again a little later, matched exactly:
#: `PARAMETER_TIMEOUT_VALUE_INVALID` holds "TIMEOUT" but is a refusal of the value.
TRANSIENT_CODES: Final = frozenset({"DATAFRAME_TIMEOUT", "DEVICE_BUSY", "deviceBusy", "COMMUNICATION_ERROR"})
BAD_CREDENTIALS: Final = "LOGIN_ERROR_DISMATCH"
#: The cloud's own words are passed on up to this length; a proxy's HTML page is not a reason.
MAX_ERROR_TEXT: Final = 200


class SessionExpiredError(Exception):
    """The cloud answered with its login page, a redirect to it, or 401: log in again and replay."""


def interpret(path: str, status: int, content_type: str, location: str, body: bytes) -> dict[str, Any]:
    """Turn one HTTP answer into a payload, or the error it stands for."""
    if status == 401 or (300 <= status < 400 and "login" in location.lower()):
        raise SessionExpiredError
    if status >= 500:
        raise TransientError(f"the cloud answered HTTP {status} (a server error)")
    if status != 200:
        raise MalformedResponseError(f"{path}: unexpected HTTP {status}")
    text = body.decode("utf-8", errors="replace")
    if content_type == "text/html" or text.lstrip().startswith("<"):
        if "login" in text.lower():
            raise SessionExpiredError
        raise MalformedResponseError(f"{path}: expected JSON, got an HTML page")
    try:
        payload = safejson.loads(text, max_bytes=len(text))  # its size was bounded as it was read
    except ValueError as exc:
        raise MalformedResponseError(f"{path}: answer {exc}") from exc
    if not isinstance(payload, dict):
        raise MalformedResponseError(f"{path}: expected a JSON object, got {type(payload).__name__}")
    raise_for_refusal(path, payload)
    return payload


def raise_for_refusal(path: str, payload: Mapping[str, Any]) -> None:
    """`success: false` becomes a typed error; an answer without `success` counts as success."""
    success = payload.get("success", True)
    if success is True:
        return
    if success is not False:
        raise MalformedResponseError(f"{path}: `success` is {success!r}, not a boolean")
    text = _short(str(payload.get("msg") or payload.get("message") or "the cloud refused without a reason"))
    if text == BAD_CREDENTIALS:
        raise AuthenticationError(
            f"the cloud refused the account name or password ({BAD_CREDENTIALS}); check cloud.username "
            "and cloud.password"
        )
    if text in TRANSIENT_CODES:
        # The cloud answered: it did not act on the request, and may if asked again.
        raise TransientError(text, maybe_delivered=False, unreachable=False)
    raise RefusedError(text)


def _short(text: str) -> str:
    """The cloud's words, cut to `MAX_ERROR_TEXT` characters."""
    return text if len(text) <= MAX_ERROR_TEXT else text[:MAX_ERROR_TEXT] + f"… ({len(text)} characters)"


def parameters_of(
    payload: Mapping[str, Any], serial: str, wanted: Collection[str]
) -> dict[str, ParameterValue]:
    """The `wanted` parameters the answer holds: names stand beside the metadata at the root, in upper
    case. A window holds about 500 names and the bridge reads about 70, so only those are looked up and
    checked: a name nothing reads costs nothing (bench/fleet.py measured a tenth of a refresh cycle's
    CPU spent on the rest), and an odd value there harms nothing.

    Text values are interned: the last good read of every window of every inverter is kept, and across
    a fleet the same short values repeat. The names are `wanted`'s own strings, held once.
    """
    values: dict[str, ParameterValue] = {}
    for name in wanted:
        if name not in payload:
            continue
        value = payload[name]
        # A null where a value should be is a malformed answer, not a missing parameter: the window fails
        # and keeps its last good read, rather than the setting leaving Home Assistant until the next one.
        if not isinstance(value, str | bool | int | float):
            raise MalformedResponseError(
                f"parameter {name} of {serial} has an unexpected type: {type(value).__name__}", serial=serial
            )
        values[name] = sys.intern(value) if isinstance(value, str) else value
    return values
