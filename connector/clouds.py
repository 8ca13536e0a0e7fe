"""Microsoft's national clouds: where to log in and where Graph lives for each.

A Gov or China tenant only exists on its own cloud's login endpoint (the global one answers
AADSTS900439), so the login host and Graph host must be chosen together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Final
from urllib.parse import urlsplit

from connector.config import CloudName, Settings


@dataclass(frozen=True, slots=True)
class Cloud:
    name: str
    authority_host: str  # "https://login.microsoftonline.com", no trailing slash
    graph_endpoint: str  # "https://graph.microsoft.com", without "/v1.0"

    @property
    def scope(self) -> str:
        """Application-permission scope: the Graph origin + "/.default" (the token audience)."""
        parts = urlsplit(self.graph_endpoint)
        return f"{parts.scheme}://{parts.netloc}/.default"


CLOUDS: Final[Mapping[CloudName, Cloud]] = MappingProxyType(
    {
        "global": Cloud(
            "global", "https://login.microsoftonline.com", "https://graph.microsoft.com"
        ),
        "usgov": Cloud("usgov", "https://login.microsoftonline.us", "https://graph.microsoft.us"),
        "usgov-dod": Cloud(
            "usgov-dod", "https://login.microsoftonline.us", "https://dod-graph.microsoft.us"
        ),
        "china": Cloud(
            "china", "https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn"
        ),
    }
)


def resolve(settings: Settings) -> Cloud:
    """The configured cloud with `authority_host` / `graph_endpoint` overrides applied.

    The name stays the base cloud's: it still decides cloud-specific behaviour (for example
    per-user MFA methods do not exist in the China cloud) when only the hosts are overridden.
    """
    base = CLOUDS[settings.cloud]
    return replace(
        base,
        authority_host=settings.authority_host or base.authority_host,
        graph_endpoint=settings.graph_endpoint or base.graph_endpoint,
    )
