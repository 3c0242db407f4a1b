"""The appliance's storage: SQLite (WAL, durable commits) for classes, students, sessions, attempts.

``db`` opens connections and runs transactions; ``migrations`` holds the numbered schema;
``repository`` the typed reads and writes; ``skeleton_blob`` compresses skeletons for the database;
``export_csv`` writes a class's results for a spreadsheet; ``crashtest`` is the power-cut check
(``python -m edge.store.crashtest --attempts 200 --seed 1``).
"""

from edge.store.db import StoreError, connect, integrity_check, read_snapshot, write_transaction
from edge.store.migrations import LATEST_VERSION, SchemaTooNewError, migrate, schema_version

__all__ = [
    "LATEST_VERSION",
    "SchemaTooNewError",
    "StoreError",
    "connect",
    "integrity_check",
    "migrate",
    "read_snapshot",
    "schema_version",
    "write_transaction",
]
