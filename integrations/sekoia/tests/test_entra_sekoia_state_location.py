"""The checkpoint database on each data path the SDK hands out: local, or object storage."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from entra_sekoia.state_location import StateLocation, is_local


class ObjectPath(PurePosixPath):
    """An object-storage path as the SDK's `S3Path` behaves for whole-file reads and writes."""

    objects: ClassVar[dict[str, bytes]] = {}

    def exists(self) -> bool:
        return str(self) in self.objects

    def open(self, mode: str = "rb") -> Any:
        if "r" in mode:
            return io.BytesIO(self.objects[str(self)])
        key, objects = str(self), self.objects

        class Upload(io.BytesIO):
            def close(self) -> None:
                objects[key] = self.getvalue()
                super().close()

        return Upload()


def test_a_local_data_path_holds_the_database_itself(tmp_path: Path) -> None:
    location = StateLocation(tmp_path, "state.sqlite")
    assert is_local(tmp_path)
    assert location.local == tmp_path / "state.sqlite"
    assert location.remote is None and not location.pull() and not location.push()


def test_object_storage_is_worked_on_locally_and_round_trips() -> None:
    bucket = ObjectPath("/bucket/connector")
    first = StateLocation(bucket, "state.sqlite")
    assert not is_local(bucket) and not first.pull()
    with sqlite3.connect(first.local) as db:
        db.execute("create table t (v text)")
        db.execute("insert into t values ('checkpoint')")
    db.close()
    assert first.push()
    again = StateLocation(bucket, "state.sqlite")
    assert again.local != first.local and again.pull()
    with sqlite3.connect(again.local) as db:
        assert db.execute("select v from t").fetchall() == [("checkpoint",)]
    db.close()
