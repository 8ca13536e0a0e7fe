"""The generated tenant: deterministic from its seed, realistic in its mix, and its ground
truth consistent with itself."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from entrasim import SimulatedGraph, Tenant, TenantSpec
from tests.simulator.graph_client import MakeSim


def test_the_same_seed_gives_the_same_tenant() -> None:
    a, b = Tenant(TenantSpec(seed=11, users=400)), Tenant(TenantSpec(seed=11, users=400))
    assert a.truth() == b.truth()
    assert a.spec.tenant_id == b.spec.tenant_id and a.spec.client_secret == b.spec.client_secret


def test_another_seed_gives_another_tenant() -> None:
    a, b = Tenant(TenantSpec(seed=11, users=50)), Tenant(TenantSpec(seed=12, users=50))
    assert set(a.truth()) != set(b.truth())
    assert a.spec.tenant_id != b.spec.tenant_id


def test_the_population_has_the_awkward_cases(sim_p2: SimulatedGraph) -> None:
    truth = list(sim_p2.tenant.truth().values())
    assert sum(u.is_guest for u in truth) > 100
    assert sum(not u.enabled for u in truth) > 50
    assert any(len(u.groups) == 0 for u in truth)
    assert any(len(u.groups) > 20 for u in truth)
    assert any(u.display_name and not u.display_name.isascii() for u in truth)
    assert any(u.display_name is None for u in truth)
    assert any(u.mail is None for u in truth)
    assert any(u.last_sign_in is None for u in truth)
    created = Counter(u.created for u in truth)
    assert created.most_common(1)[0][1] > 20


def test_mfa_mix_covers_every_method_family(sim_p2: SimulatedGraph) -> None:
    truth = list(sim_p2.tenant.truth().values())
    registered = Counter(m for u in truth for m in u.mfa_methods)
    for method in ("microsoftAuthenticatorPush", "fido2SecurityKey", "passKeyDeviceBound",
                   "passKeyDeviceBoundAuthenticator", "windowsHelloForBusiness", "softwareOneTimePasscode",
                   "hardwareOneTimePasscode", "mobilePhone", "email", "temporaryAccessPass"):
        assert registered[method] > 0, method
    email_only = [u for u in truth if u.mfa_methods == {"email"}]
    assert email_only and not any(u.has_strong_mfa for u in email_only)
    assert any(not u.mfa_methods and not u.is_guest for u in truth)


def test_roles_come_directly_and_through_role_assignable_groups(sim_p2: SimulatedGraph) -> None:
    tenant = sim_p2.tenant
    helpdesk_group = next(g for g in tenant.groups() if g.name == "SG-Helpdesk-Admins")
    member = helpdesk_group.members[0]
    assert "Helpdesk Administrator" in tenant.expected(member.id).roles
    assert any(tenant.expected(p.id).roles for p in tenant.role_members("Global Administrator"))
    assert not any(r in {"User", "Guest User"} for u in tenant.truth().values() for r in u.roles)


def test_mutations_change_the_truth(make_sim: MakeSim) -> None:
    sim = make_sim(users=200)
    tenant = sim.tenant
    user = min((u for u in tenant.users() if not u.is_guest), key=lambda u: len(u.groups))
    group = next(g for g in tenant.groups() if g not in user.groups and not g.role_assignable)
    tenant.disable_user(user.id)
    tenant.add_to_group(user.id, group.id)
    tenant.assign_role(user.id, "Security Reader")
    tenant.set_mfa(user.id, ["fido2SecurityKey"])
    when = datetime(2026, 10, 1, tzinfo=UTC)
    tenant.set_sign_in(user.id, when)
    expected = tenant.expected(user.id)
    assert not expected.enabled
    assert (group.id, group.name) in expected.groups
    assert "Security Reader" in expected.roles
    assert expected.strong_mfa_methods == {"fido2SecurityKey"} and expected.has_strong_mfa
    assert expected.last_sign_in == when
    tenant.delete_user(user.id)
    assert user.id not in tenant.truth()



def test_user_principal_names_are_unique(sim_p2: SimulatedGraph) -> None:
    upns = [u.upn.lower() for u in sim_p2.tenant.truth().values()]
    assert len(upns) == len(set(upns))
