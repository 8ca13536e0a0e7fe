"""Where the SQLite checkpoint lives, whichever data path the SDK hands out.

sekoia-automation-sdk 1.27 (`storage.get_data_path`) gives a connector either a local folder
(`/symphony_data`, the default) or, with `file_backend` set to `S3`, an `S3Path` in an object
storage bucket (the SDK's own checkpoints, `PersistentJSON`, read and write whole JSON files
there). Our state is a SQLite database: it needs a local file (random access, locking), so:

- local data path: the database lives there, as before;
- object storage: the database lives in a local scratch folder for the process's life; `pull()`
  copies the stored copy down before the first cycle, `push()` uploads a consistent snapshot
  (SQLite's backup API) after every cycle. A crash loses at most the commits since the last
  upload: the next start re-delivers those users (the platform upserts them by uid), and nothing
  is lost. The store's lock file is local, so it cannot keep two replicas of one connector apart
  on object storage; the platform runs one.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path, PosixPath, PurePath, WindowsPath
from typing import Any

__all__ = ["StateLocation", "is_local"]


def is_local(path: PurePath) -> bool:
    """A plain filesystem path (not the SDK's `S3Path` or another object-storage path)."""
    return type(path) in (PosixPath, WindowsPath)


class StateLocation:
    """The local file the store opens, and its copy in object storage when there is one."""

    def __init__(self, data_path: PurePath, file_name: str) -> None:
        self.remote: Any = None
        if is_local(data_path):
            self.local = Path(data_path) / file_name
        else:
            self.remote = data_path / file_name
            self.local = Path(tempfile.mkdtemp(prefix="entra_sekoia_state_")) / file_name

    @property
    def description(self) -> str:
        if self.remote is None:
            return f"local file {self.local}"
        return f"object storage {self.remote} (worked on locally in {self.local.parent})"

    def pull(self) -> bool:
        """Copy the stored database down (object storage only); True when there was one."""
        if self.remote is None or not self.remote.exists():
            return False
        with self.remote.open("rb") as source, self.local.open("wb") as target:
            shutil.copyfileobj(source, target)
        return True

    def push(self) -> bool:
        """Upload a consistent snapshot of the database (object storage only)."""
        if self.remote is None or not self.local.is_file():
            return False
        snapshot = self.local.with_suffix(".upload")
        with sqlite3.connect(self.local) as source, sqlite3.connect(snapshot) as target:
            source.backup(target)
        source.close()
        target.close()
        try:
            with snapshot.open("rb") as data, self.remote.open("wb") as stored:
                shutil.copyfileobj(data, stored)
        finally:
            snapshot.unlink(missing_ok=True)
        return True
