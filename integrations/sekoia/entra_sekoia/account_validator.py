"""Sekoia.io's "Test connector" button: our `connector test` diagnosis, reported to the platform.

The SDK runs `validate()` (command `validate_module_configuration`) with the module configuration
and its secrets, and sends back `{"success": bool}` plus the text given to `error()`. That text is
our diagnosis as `connector test` prints it (AADSTS code, its meaning, the fix, what the login
endpoint said), redacted, so the platform shows why and what to do; never a secret.
"""

from __future__ import annotations

import asyncio

from sekoia_automation.account_validator import AccountValidator
from sekoia_automation.exceptions import ModuleConfigurationError

from connector.config import ConfigError
from connector.diagnostics import diagnose, render_text
from connector.logs import REDACTOR
from entra_sekoia.manifest import MAX_BATCH, module_values, settings_from_module

__all__ = ["EntraIdAccountValidator"]


class EntraIdAccountValidator(AccountValidator):
    """Validates the module configuration by diagnosing the tenant, as `connector test` does."""

    def execute(self) -> None:
        """The SDK's execute, except that a configuration it refuses (a required key missing,
        found while it merges the secrets) is reported as a failed validation naming the key,
        instead of ending the process with a traceback and the task forever "running"."""
        try:
            self.set_task_as_running()  # type: ignore[no-untyped-call]
        except ModuleConfigurationError as exc:
            self.error(REDACTOR.redact(f"The module configuration is not valid: {exc}"))
            self.send_results(False)  # type: ignore[no-untyped-call]
            return
        self.send_results(self.validate())  # type: ignore[no-untyped-call]

    def validate(self) -> bool:
        values = module_values(self.module.configuration)
        for key in ("client_secret", "certificate_password"):
            if isinstance(values.get(key), str):
                REDACTOR.add(values[key])
        try:
            settings = settings_from_module(values, batch_size=MAX_BATCH)
        except ConfigError as exc:
            self.error(REDACTOR.redact(f"The module configuration is not valid: {exc}"))
            return False
        diagnosis = asyncio.run(diagnose(settings))
        report = REDACTOR.redact(render_text(diagnosis))
        self.log(report, level="info")
        if diagnosis.can_collect:
            return True
        self.error(report)
        return False
