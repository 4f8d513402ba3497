"""Where results live: the SQLite results store, environment provenance, and CSV/JSON export."""

from attnbench.results.environment import collect_environment  # noqa: F401
from attnbench.results.export import rows_to_csv, rows_to_json  # noqa: F401
from attnbench.results.store import DEFAULT_DB, SCHEMA_VERSION, ResultsStore  # noqa: F401
