"""A simulated Microsoft Entra ID tenant: Microsoft Graph and the identity platform over real
HTTPS on loopback, generated from a seed. Used by the tests, the `demo` command and the
benchmarks; the connector itself never imports it outside `demo`.

```python
from entrasim import SimulatedGraph, TenantSpec

with SimulatedGraph(TenantSpec(seed=7, users=2500, licence="P2")) as sim:
    sim.url                 # https://127.0.0.1:PORT: authority host and Graph endpoint
    sim.ca_path             # PEM of the CA to trust
    sim.connector_config()  # tenant_id, client_id, client_secret, authority_host, graph_endpoint, ca_bundle
    sim.tenant              # Tenant: ground truth (expected(), truth(), sign_ins()) and mutations
    sim.counters            # Counters: snapshot() / totals() / reset(), per route
    sim.faults              # Faults: latency, p_429, p_503, p_drop, expired_page_token_on_page, ...
    sim.throttle            # ThrottleModel: .enabled, budgets
    sim.identity            # Identity: token_lifetime_seconds, revoke_all()
```
"""

from entrasim.faults import Faults
from entrasim.server import SimulatedGraph
from entrasim.sign_ins import EVENT_TYPES
from entrasim.spec import DEFAULT_PERMISSIONS, Mix, SignInMix, TenantSpec
from entrasim.tenant import ExpectedUser, Tenant
from entrasim.throttle import (
    Counters,
    ThrottleModel,
    floor_from_counters,
    request_cost,
    ru_budget,
    throttling_floor_seconds,
)
from entrasim.tls import ClientCertificate, make_client_certificate

__all__ = [
    "DEFAULT_PERMISSIONS",
    "EVENT_TYPES",
    "ClientCertificate",
    "Counters",
    "ExpectedUser",
    "Faults",
    "Mix",
    "SignInMix",
    "SimulatedGraph",
    "Tenant",
    "TenantSpec",
    "ThrottleModel",
    "floor_from_counters",
    "make_client_certificate",
    "request_cost",
    "ru_budget",
    "throttling_floor_seconds",
]
