"""Operations tests: the import worker fixtures of tests/imports, shared."""
from ..imports.conftest import start_worker  # noqa: F401  (a fixture, registered by the import)
