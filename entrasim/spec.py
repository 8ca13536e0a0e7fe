"""What a simulated tenant is made of: the seed, its size, its licence and the app registration.

A `TenantSpec` is immutable and fully determines the generated tenant, so a test that needs
"the same tenant again" only needs the same spec. Identifiers left empty are derived from
the seed; the client secret is excluded from `repr` so a failing assertion never prints it.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

Licence = Literal["free", "P1", "P2"]

DEFAULT_PERMISSIONS: frozenset[str] = frozenset(
    {
        "User.Read.All",
        "GroupMember.Read.All",
        "RoleManagement.Read.Directory",
        "AuditLog.Read.All",
        "UserAuthenticationMethod.Read.All",
        "Application.Read.All",
        "IdentityRiskyUser.Read.All",
        "Device.Read.All",
        "DeviceManagementManagedDevices.Read.All",
    }
)

# Generation is anchored to a fixed instant, not the wall clock, so one seed gives one tenant.
DEFAULT_AS_OF = datetime(2026, 11, 1, 8, 0, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Mix:
    """Proportions of the generated population; the defaults resemble a mid-size company."""

    guests: float = 0.08
    disabled: float = 0.06
    never_signed_in: float = 0.10
    bulk_imported: float = 0.35
    unicode_names: float = 0.15
    with_manager: float = 0.7
    on_premises_synced: float = 0.3
    admins: float = 0.015
    groups_per_100_users: float = 5.0
    heavy_group_members: float = 0.03


@dataclass(frozen=True, slots=True)
class SignInMix:
    """Volumes and proportions of the generated sign-in log beyond the interactive rate.

    Non-interactive, service-principal and managed-identity sign-ins are only served on `/beta`,
    and are generated only when a request asks for them."""

    non_interactive_per_user_per_day: float = 8.0
    service_principal_per_day: int = 400
    managed_identity_per_day: int = 100
    failure_rate: float = 0.12  # interactive sign-ins that fail (beyond disabled accounts)
    risky_rate: float = 0.04  # interactive sign-ins with a risk level above "none" (P2)
    # Generated records that reach the log late: this share is visible only `late_delay_seconds`
    # (uniform between the two) after its createdDateTime, on the simulator's clock.
    late_fraction: float = 0.0
    late_delay_seconds: tuple[float, float] = (60.0, 1800.0)
    # Keep generating after `sign_ins_until`, in step with the clock, as a live tenant would.
    live: bool = False


@dataclass(frozen=True, slots=True)
class TenantSpec:
    """Everything the generator and the identity platform need to know about one tenant."""

    seed: int = 1
    users: int = 2500
    licence: Licence = "P2"
    permissions: frozenset[str] = DEFAULT_PERMISSIONS
    tenant_id: str = ""
    domain: str = "contoso.onmicrosoft.com"
    custom_domains: tuple[str, ...] = ("contoso.com", "contoso.co.uk")
    display_name: str = "Contoso"
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    secret_end_datetime: datetime | None = None
    certificate_pem: bytes | None = field(default=None, repr=False)
    certificate_end_datetime: datetime | None = None
    token_lifetime_seconds: int = 3599
    as_of: datetime = DEFAULT_AS_OF
    mix: Mix = Mix()
    # Interactive user sign-ins per 24 h is about users x this; the generated log covers the
    # 30 days before `sign_ins_until` (None: the wall clock when the tenant is built).
    sign_ins_per_user_per_day: float = 3.0
    sign_ins_until: datetime | None = None
    sign_in_mix: SignInMix = SignInMix()
    # Entra devices (None: about 1.2 per user, see entrasim.devices) and whether the tenant has
    # an Intune licence (its managed devices are served at /deviceManagement/managedDevices).
    devices: int | None = None
    intune: bool = True
    # Service principals (None: users / 20, at least 24; see entrasim.workloads), generated on
    # first use.
    service_principals: int | None = None

    def __post_init__(self) -> None:
        if self.licence not in ("free", "P1", "P2"):
            raise ValueError(f"licence must be free, P1 or P2, not {self.licence!r}")
        if self.users < 1:
            raise ValueError("a tenant needs at least one user")
        if self.devices is not None and self.devices < 0:
            raise ValueError("devices cannot be negative")
        if self.service_principals is not None and self.service_principals < 0:
            raise ValueError("service_principals cannot be negative")
        if self.sign_ins_per_user_per_day < 0:
            raise ValueError("sign_ins_per_user_per_day cannot be negative")
        rng = random.Random(f"spec:{self.seed}")
        derived = {
            "tenant_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "client_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "client_secret": "sim~" + "".join(rng.choices("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789._-", k=36)),
        }
        for name, value in derived.items():
            if not getattr(self, name):
                object.__setattr__(self, name, value)
        if self.secret_end_datetime is None:
            object.__setattr__(self, "secret_end_datetime", self.as_of + timedelta(days=540))
        object.__setattr__(self, "permissions", frozenset(self.permissions))

    def with_changes(self, **changes: object) -> TenantSpec:
        """A copy with some fields changed (derived identifiers stay those of this spec)."""
        return replace(self, **changes)  # type: ignore[arg-type]
