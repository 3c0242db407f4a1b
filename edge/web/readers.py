"""A small pool of read-only database connections for the screen's request threads.

Screens read through their own read-only connections (WAL readers), never through the writer's
connection: a reader sees only committed transactions, so the screen cannot show an attempt whose
commit has not returned yet, and reading never waits for the writer's fsync.
"""

from __future__ import annotations

import os
import queue
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from edge.store.db import StoreConnection, connect


class ReaderPool:
    """Up to ``size`` read-only connections to the database at ``path``, opened on first use."""

    def __init__(self, path: str | os.PathLike, size: int = 4, wait_s: float = 10.0) -> None:
        if size < 1:
            raise ValueError(f"a reader pool needs at least one connection, got {size}.")
        self.path = Path(path)
        self.wait_s = wait_s
        self._free: queue.LifoQueue[StoreConnection] = queue.LifoQueue()
        self._slots = queue.Queue()
        for _ in range(size):
            self._slots.put(None)

    @contextmanager
    def reader(self) -> Iterator[StoreConnection]:
        """A read-only connection for the duration of the block."""
        self._slots.get(timeout=self.wait_s)
        try:
            try:
                conn = self._free.get_nowait()
            except queue.Empty:
                conn = connect(self.path, readonly=True)
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.close()  # left mid-transaction by an error: a fresh one replaces it
                else:
                    self._free.put(conn)
        finally:
            self._slots.put(None)

    def close(self) -> None:
        while True:
            try:
                self._free.get_nowait().close()
            except queue.Empty:
                return
