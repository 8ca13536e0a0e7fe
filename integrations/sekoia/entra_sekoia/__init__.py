"""The Sekoia.io module: the connector's plugin run by Sekoia's own runtime (sekoia-automation-sdk).

`main.py` (next to this package) registers the asset connector and the account validator, as
every module of SEKOIA-IO/automation-library does; see docs/sekoia.md.
"""
