"""A minimal module on the SDK's own cycle, built as automation-library's Entra ID connector is:
`update_checkpoint()` commits what `get_assets()` last yielded. What the module replaces.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.sekoia.platform import MODULE_DIR

NAIVE_MAIN = '''
import orjson
from sekoia_automation.asset_connector import AsyncAssetConnector
from sekoia_automation.module import Module

from connector.plugin import EntraIdUserInventory
from connector.state import StateStore
from entra_sekoia.assets import to_asset
from entra_sekoia.manifest import module_values, settings_from_module


class NaiveConnector(AsyncAssetConnector):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.store = StateStore(self.data_path / "entra_id_users_state.sqlite")
        self.pending = None

    async def get_assets(self):
        settings = settings_from_module(module_values(self.module.configuration),
                                        batch_size=self.batch_size)
        async for batch in EntraIdUserInventory(settings, store=self.store).abatches():
            if not batch.events:
                self.pending = batch
            for index, raw in enumerate(batch.events):
                if index == len(batch.events) - 1:
                    self.pending = batch
                yield to_asset(orjson.loads(raw))

    async def update_checkpoint(self):
        if self.pending is not None:
            self.store.commit(self.pending)

    async def reset_checkpoint(self):
        self.store.save({}, "users")

    def get_mapped_fields(self):
        return {}


if __name__ == "__main__":
    module = Module()
    module.register(NaiveConnector, "entra_id_users_asset_connector")
    module.run()
'''


def naive_module(tmp_path: Path) -> Path:
    """A folder laid out as a module (our manifest, the naive main.py) to start it from."""
    folder = tmp_path / "naive"
    folder.mkdir()
    shutil.copy(MODULE_DIR / "manifest.json", folder / "manifest.json")
    (folder / "main.py").write_text(NAIVE_MAIN)
    return folder


