"""The module's entry point, as in every Sekoia.io module: `python main.py <command>`.

Commands: `entra_id_users_asset_connector` and `entra_id_devices_asset_connector` (the asset
connectors, see connector_entra_id_users_asset_connector.json and
connector_entra_id_devices_asset_connector.json) and `validate_module_configuration` (the account
validator, Sekoia's "Test connector" button). The SDK reads the configuration from /symphony (or
the environment variables it falls back to); see docs/sekoia.md. The connectors' names are written
out literally: automation-library's compliance check reads it from this file.
"""

from entra_sekoia.account_validator import EntraIdAccountValidator
from entra_sekoia.asset_connector import EntraIdDevicesAssetConnector, EntraIdUsersAssetConnector
from sekoia_automation.module import Module

if __name__ == "__main__":
    module = Module()
    module.register_account_validator(EntraIdAccountValidator)
    module.register(EntraIdUsersAssetConnector, "entra_id_users_asset_connector")
    module.register(EntraIdDevicesAssetConnector, "entra_id_devices_asset_connector")
    module.run()
