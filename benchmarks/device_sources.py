"""`python -m benchmarks.device_sources --users 2000 8000`: requests the device sources need.

Not the device stream's benchmark (`benchmarks/devices.py`, through the CLI, at 50 ms per
request): this counts the Graph requests of each device source against an in-process
simulated tenant (1.2 devices per user), to show they grow with pages, not devices, and that
a refresh after 100 device changes is one delta request. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from connector.config import load_settings
from connector.graph.client import GraphClient
from connector.graph.devices import (
    DeviceQuery,
    device_changes,
    device_pages,
    devices_latest_link,
    managed_devices,
    registered_users,
)
from connector.graph.odata import Availability
from entrasim import SimulatedGraph, TenantSpec

CHANGES = 100


@dataclass(frozen=True, slots=True)
class Row:
    devices: int
    listing: int
    users: int
    intune_records: int
    intune: int
    latest: int
    delta: int


async def _full(client: GraphClient) -> tuple[int, int, int, int, str, int]:
    availability = Availability()
    async for _ in device_pages(client, DeviceQuery(), availability):
        pass
    listing = client.stats.requests
    await registered_users(client)
    users = client.stats.requests - listing
    table = await managed_devices(client, availability)
    intune = client.stats.requests - listing - users
    link = await devices_latest_link(client)
    latest = client.stats.requests - listing - users - intune
    return listing, users, len(table or ()), intune, link, latest


def measure(users: int) -> Row:
    with SimulatedGraph(TenantSpec(seed=9, users=users)) as sim:
        config = load_settings(sim.connector_config())

        async def full() -> tuple[int, int, int, int, str, int]:
            async with GraphClient.from_settings(config) as client:
                return await _full(client)

        listing, registered, records, intune, link, latest = asyncio.run(full())
        for device in sim.tenant.devices.devices()[:CHANGES]:
            sim.tenant.devices.disable_device(device.id)

        async def delta() -> int:
            async with GraphClient.from_settings(config) as client:
                changes = await device_changes(client, link)
                assert len(changes.present) == CHANGES
                return client.stats.requests

        return Row(len(sim.tenant.devices), listing, registered, records, intune, latest,
                   asyncio.run(delta()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.device_sources",
                                     description=__doc__)
    parser.add_argument("--users", type=int, nargs="+", default=[2000, 8000])
    args = parser.parse_args(argv)
    print("| devices | /devices + owners | registered users | Intune records | Intune requests "
          f"| $deltatoken=latest | delta after {CHANGES} changes |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for users in args.users:
        r = measure(users)
        print(f"| {r.devices:,} | {r.listing} | {r.users} | {r.intune_records:,} | {r.intune} "
              f"| {r.latest} | {r.delta} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
