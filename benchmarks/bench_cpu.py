"""CPU cost of the hot path: parse a Graph /users page, map every user, serialise every event.

Network and throttling bound a real run; this measures what is left, on one core, so a
regression in `connector.ocsf.user_inventory.to_event` shows up as a number. Run it with
`python -m benchmarks.bench_cpu` (`--check` exits 1 below the target).

The figure is users per CPU-second of this single thread (best round, as timeit advises: slower
rounds measure other processes, not this code); wall-clock rates are printed beside it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from connector.ocsf.user_inventory import Group, Mfa, Product, UserFacts, to_event

TARGET_USERS_PER_SECOND = 40_000
PAGE_SIZE = 999
_PRODUCT = Product(name="Entra ID user inventory", vendor_name="Microsoft", version="0.1.0")
_TENANT = "00000000-0000-4000-8000-0000000000aa"
_DEPARTMENTS = ("Finance", "Engineering", "Sales", "Marketing", "Legal", "HR", "Support")
_TITLES = ("Analyst", "Engineer", "Manager", "Director", "Consultant", "Intern", "Architect")
_OFFICES = ("Paris", "Lyon", "Berlin", "Remote", "London", "Bldg 1", "Bldg 2")
_METHODS = ("microsoftAuthenticatorPush", "fido2", "softwareOneTimePasscode", "mobilePhone")
_ROLES = ("Global Administrator", "User Administrator", "Billing Administrator")
_FIRST = ("Jane", "John", "Amélie", "Łukasz", "Søren", "Chloé", "Wei", "Aisha", "Omar", "Eva")
_LAST = ("Doe", "Martin", "Müller", "Nowak", "Dubois", "Zhang", "Haddad", "García", "Smith")


def _graph_time(moment: datetime) -> str:
    # Graph sends seven fractional digits on signInActivity and none elsewhere.
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond:06d}0Z"


def _user(rng: random.Random, now: datetime) -> dict[str, Any]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    alias = f"{first}.{last}{rng.randrange(10_000)}".lower().encode("ascii", "ignore").decode()
    guest = rng.random() < 0.1
    synced = rng.random() < 0.4
    created = now - timedelta(days=rng.randrange(1, 3000), seconds=rng.randrange(86_400))
    user: dict[str, Any] = {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "displayName": f"{first} {last}",
        "givenName": first,
        "surname": last,
        "userPrincipalName": (
            f"{alias}_fabrikam.com#EXT#@contoso.onmicrosoft.com"
            if guest
            else f"{alias}@contoso.com"
        ),
        "mail": f"{alias}@fabrikam.com" if guest else f"{alias}@contoso.com",
        "otherMails": [f"{alias}@gmail.com"] if rng.random() < 0.2 else [],
        "proxyAddresses": []
        if guest
        else [f"SMTP:{alias}@contoso.com", f"smtp:{alias}@contoso.mail.onmicrosoft.com"],
        "accountEnabled": rng.random() < 0.93,
        "userType": "Guest" if guest else "Member",
        "createdDateTime": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "onPremisesSyncEnabled": True if synced else None,
        "onPremisesSecurityIdentifier": f"S-1-5-21-1-2-3-{rng.randrange(100_000)}"
        if synced
        else None,
        "isManagementRestricted": None,
        "signInActivity": {
            "lastSignInDateTime": _graph_time(now - timedelta(minutes=rng.randrange(100_000))),
            "lastSignInRequestId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "lastNonInteractiveSignInDateTime": _graph_time(
                now - timedelta(minutes=rng.randrange(100_000))
            ),
            "lastNonInteractiveSignInRequestId": str(
                uuid.UUID(int=rng.getrandbits(128), version=4)
            ),
            "lastSuccessfulSignInDateTime": _graph_time(
                now - timedelta(minutes=rng.randrange(100_000))
            ),
            "lastSuccessfulSignInRequestId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        },
    }
    if not guest:
        user.update(
            jobTitle=rng.choice(_TITLES),
            department=rng.choice(_DEPARTMENTS),
            employeeId=f"E{rng.randrange(100_000):05d}",
            employeeType="Employee",
            companyName="Contoso",
            officeLocation=rng.choice(_OFFICES),
            employeeHireDate=created.strftime("%Y-%m-%dT00:00:00Z"),
        )
    else:
        user.update(jobTitle=None, department=None, employeeId=None, companyName=None)
    return user


def _facts(rng: random.Random, user: dict[str, Any]) -> UserFacts:
    groups = tuple(
        Group(str(uuid.UUID(int=rng.getrandbits(128), version=4)), f"Group {rng.randrange(500)}")
        for _ in range(rng.randrange(0, 9))
    )
    roles = (rng.choice(_ROLES),) if rng.random() < 0.03 else ()
    mfa = (
        Mfa(
            registered=rng.random() < 0.85, methods=tuple(rng.sample(_METHODS, rng.randrange(0, 3)))
        )
        if user["accountEnabled"]
        else None  # the registration report skips disabled users
    )
    manager = (
        {"id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "displayName": "Sam Boss"}
        if rng.random() < 0.8
        else None
    )
    return UserFacts(groups=groups, roles=roles, mfa=mfa, manager=manager)


def build_page(seed: int = 7, size: int = PAGE_SIZE) -> tuple[bytes, dict[str, UserFacts]]:
    """A realistic `/users` page (as Graph sends it) and the facts the other sources found."""
    rng = random.Random(seed)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    users = [_user(rng, now) for _ in range(size)]
    page = {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id,displayName)",
        "@odata.nextLink": "https://graph.microsoft.com/v1.0/users?$top=999&$skiptoken=RFNwdAIAAQ",
        "value": users,
    }
    return orjson.dumps(page), {u["id"]: _facts(rng, u) for u in users}


def run_page(page: bytes, facts: dict[str, UserFacts], collected_at_ms: int) -> int:
    """The measured work: returns the number of serialised bytes so nothing is optimised away."""
    total = 0
    dumps = orjson.dumps
    for user in orjson.loads(page)["value"]:
        event = to_event(
            user,
            facts[user["id"]],
            collected_at_ms=collected_at_ms,
            tenant_id=_TENANT,
            product=_PRODUCT,
        )
        total += len(dumps(event))
    return total


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_cpu", description=__doc__)
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument("--pages", type=int, default=10, help="pages per round (default 10)")
    parser.add_argument(
        "--check", action="store_true", help=f"exit 1 below {TARGET_USERS_PER_SECOND:,} users/s"
    )
    args = parser.parse_args(argv)

    page, facts = build_page()
    collected_at_ms = 1_767_225_600_000
    run_page(page, facts, collected_at_ms)  # warm-up: imports, caches
    cpu_rates, wall_rates = [], []
    for _ in range(args.rounds):
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(args.pages):
            run_page(page, facts, collected_at_ms)
        users = PAGE_SIZE * args.pages
        cpu_rates.append(users / (time.process_time() - cpu))
        wall_rates.append(users / (time.perf_counter() - wall))
    best = max(cpu_rates)
    verdict = "met" if best >= TARGET_USERS_PER_SECOND else "NOT met"
    print(
        f"bench_cpu: parse + map + serialise of a {PAGE_SIZE}-user Graph page "
        f"({len(page):,} bytes), one thread, {args.rounds} rounds x {args.pages} pages\n"
        f"  best   {best:,.0f} users/s per CPU-second (target {TARGET_USERS_PER_SECOND:,}: {verdict})\n"
        f"  median {statistics.median(cpu_rates):,.0f} users/s per CPU-second\n"
        f"  median {statistics.median(wall_rates):,.0f} users/s wall clock "
        f"(lower when other processes share the core)"
    )
    if args.check and best < TARGET_USERS_PER_SECOND:
        print("bench_cpu: below target")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
