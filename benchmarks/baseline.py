"""The per-user collector the issue compares against: list users, then three Graph requests
per user, one after another (direct groups, admin roles, MFA methods), as other Entra ID
collectors do.

Looping a whole 10,000-user tenant this way takes most of an hour, so the benchmark times a
sample of the same tenant's users and extrapolates: listing pages x time per page, plus users
x time per user. The extrapolation leaves out the reporting budget's waits on the listing, so
it flatters the baseline, never the connector.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from benchmarks.tenant import SIGN_IN_PAGE, TenantFacts

USER_SELECT = (
    "id,displayName,userPrincipalName,mail,accountEnabled,userType,createdDateTime,signInActivity"
)
PER_USER = (
    "/users/{id}/memberOf",
    "/users/{id}/transitiveMemberOf/microsoft.graph.directoryRole",
    "/users/{id}/authentication/methods",
)


@dataclass(frozen=True, slots=True)
class BaselineResult:
    sample_users: int
    requests: int
    throttled: int
    list_page_seconds: float  # one /users page
    per_user_seconds: float  # the three per-user requests (with their paging)

    def extrapolated_seconds(self, users: int) -> float:
        return (
            math.ceil(users / SIGN_IN_PAGE) * self.list_page_seconds + users * self.per_user_seconds
        )


class _Client:
    """Sequential GETs that follow nextLinks and wait out 429s, counting both."""

    def __init__(self, facts: TenantFacts) -> None:
        self.http = httpx.Client(verify=facts.ca_path, timeout=60.0)
        config = facts.config
        token = self.http.post(
            facts.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": config["client_id"],
                "client_secret": config["client_secret"],
                "scope": facts.scope,
            },
        )
        token.raise_for_status()
        self.http.headers["Authorization"] = "Bearer " + token.json()["access_token"]
        self.base = facts.url + "/v1.0"
        self.requests = 0
        self.throttled = 0

    def get(self, url: str) -> dict[str, object]:
        while True:
            self.requests += 1
            response = self.http.get(url)
            if response.status_code == 429:
                self.throttled += 1
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            response.raise_for_status()
            body: dict[str, object] = response.json()
            return body

    def pages(self, url: str) -> Iterator[list[dict[str, object]]]:
        next_url: str | None = url
        while next_url:
            page = self.get(next_url)
            value = page.get("value")
            yield value if isinstance(value, list) else []
            link = page.get("@odata.nextLink")
            next_url = link if isinstance(link, str) else None


def run_baseline(facts: TenantFacts, sample_users: int) -> BaselineResult:
    """Time the listing of the sample's pages, then the per-user requests for each sampled user."""
    client = _Client(facts)
    try:
        sample: list[str] = []
        pages = 0
        started = time.perf_counter()
        for users in client.pages(f"{client.base}/users?$select={USER_SELECT}&$top=999"):
            pages += 1
            sample.extend(str(u["id"]) for u in users[: sample_users - len(sample)])
            if len(sample) >= sample_users:
                break
        list_page = (time.perf_counter() - started) / max(pages, 1)
        started = time.perf_counter()
        for user_id in sample:
            for path in PER_USER:
                for _ in client.pages(client.base + path.format(id=user_id)):
                    pass
        per_user = (time.perf_counter() - started) / max(len(sample), 1)
    finally:
        client.http.close()
    return BaselineResult(
        sample_users=len(sample),
        requests=client.requests,
        throttled=client.throttled,
        list_page_seconds=list_page,
        per_user_seconds=per_user,
    )
