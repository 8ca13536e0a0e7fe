"""Configuration: the settings model (`settings.py`), files it names (`files.py`), reading a
configuration with its environment fallbacks (`loading.py`), and the artefacts generated from the
model, the manifest's schema and docs/configuration.md (`generate.py`).
"""

from connector.config.files import client_certificate
from connector.config.generate import manifest_config_schema
from connector.config.loading import load_settings
from connector.config.settings import (
    DOMAIN_PATTERN,
    ENV_FALLBACKS,
    GUID_PATTERN,
    TENANT_PATTERN,
    CloudName,
    Intake,
    IntakeFormat,
    Settings,
    SignIns,
)
from connector.errors import ConfigError

__all__ = [
    "DOMAIN_PATTERN",
    "ENV_FALLBACKS",
    "GUID_PATTERN",
    "TENANT_PATTERN",
    "CloudName",
    "ConfigError",
    "Intake",
    "IntakeFormat",
    "Settings",
    "SignIns",
    "client_certificate",
    "load_settings",
    "manifest_config_schema",
]
