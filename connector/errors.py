"""Exception types of the connector that callers outside one module need to tell apart."""

from __future__ import annotations

from collections.abc import Iterable


class ConfigError(Exception):
    """The configuration cannot be used; the CLI turns this into exit code 2.

    `errors` pairs a field path (`intake.url`, `domains[2]`; empty for a problem with the file
    itself) with a plain message. Messages never quote the offending value, so a secret pasted
    into the wrong key cannot leak through an error report.
    """

    def __init__(self, errors: Iterable[tuple[str, str]], source: str | None = None) -> None:
        self.errors: list[tuple[str, str]] = list(errors)
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f" ({self.source})" if self.source else ""
        lines = [f"invalid configuration{where}:"]
        lines += [
            f"  {field}: {message}" if field else f"  {message}" for field, message in self.errors
        ]
        return "\n".join(lines)
