"""The cloud's own answers that are not readings of an inverter: the login answer, with its plants and
parallel groups."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, ValidationError

from bridge.core.errors import MalformedResponseError
from bridge.core.readings import InverterInfo, VendorModel, first_problem


class ParallelGroup(VendorModel):
    name: str = Field(alias="parallelGroup")
    first_serial: str | None = Field(default=None, alias="parallelFirstDeviceSn")


class Plant(VendorModel):
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
