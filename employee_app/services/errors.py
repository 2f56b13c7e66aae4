"""Exceptions services raise; views map them to HTTP statuses (409, 422)."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Taken:
    """A value that an existing employee already holds."""

    field: str  # "employee_id" or "email"
    value: str
    existing_employee_id: str  # the record that holds it, for the link
    existing_name: str

    @property
    def message(self) -> str:
        if self.field == "employee_id":
            return f"Employee ID {self.value} already exists ({self.existing_name})."
        return f"Work e-mail {self.value} already exists (employee {self.existing_employee_id}, {self.existing_name})."


class ServiceError(Exception):
    pass


class DuplicateError(ServiceError):
    """The record would repeat an employee ID or e-mail that is already stored."""

    def __init__(self, taken: list[Taken]):
        super().__init__("; ".join(t.message for t in taken))
        self.taken = taken


class InvalidInput(ServiceError):
    """One message per field that failed its rule; `taken`: the values among
    them that an existing employee holds (a form links to that record)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors
        self.taken: list[Taken] = []
