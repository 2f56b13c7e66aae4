"""The groups the documentation page (/api/v1/docs) shows the operations
in: OpenAPI tags, with a line each saying what the group is for."""
from spectree import Tag

EMPLOYEES = Tag(name="Employees", description="Read, add (one or a batch of up to 1,000), change and delete "
                                              "employee records: the forms' rules and duplicate guard.")
CHANGES = Tag(name="Changes", description="The change feed: every create, edit and delete, in commit order, "
                                          "to keep another system's copy in sync.")
IMPORTS = Tag(name="Imports", description="Upload a CSV or XLSX as the upload page does, follow it, "
                                          "download its rejected rows.")
REPORTS = Tag(name="Reports", description="The report pages' rows as JSON, for the same filters.")
ABOUT = Tag(name="About the API", description="This documentation and the OpenAPI document it reads.")
