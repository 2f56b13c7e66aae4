from .employee import EMPLOYMENT_TYPES, STATUSES, Department, Employee
from .user import ROLES, User

__all__ = ["Department", "Employee", "EMPLOYMENT_TYPES", "STATUSES", "ROLES", "User"]
