from .api_token import ApiToken
from .audit import AUDIT_ACTIONS, AUDIT_SOURCES, AUDIT_SUBJECTS, AuditEntry
from .employee import EMPLOYMENT_TYPES, STATUSES, Department, Employee, Job
from .imports import IMPORT_MODES, IMPORT_STATUSES, ON_EXISTING, ColumnMapping, ImportJob, ImportRejection
from .user import ROLES, User, UserSession

__all__ = ["ApiToken", "AuditEntry", "AUDIT_ACTIONS", "AUDIT_SOURCES", "AUDIT_SUBJECTS", "ColumnMapping", "Department",
           "Employee", "EMPLOYMENT_TYPES", "IMPORT_MODES", "IMPORT_STATUSES", "ImportJob", "ImportRejection", "Job",
           "ON_EXISTING", "ROLES", "STATUSES", "User", "UserSession"]
