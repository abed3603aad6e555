"""Holds (or waits for) a lease in its own process; prints LEADER when it leads."""

from __future__ import annotations

import asyncio
import os
import sys

from bosun_common.bus import Bus
from bosun_common.lease import Lease
from bosun_common.streams import KVSpec


async def main(bucket: str, name: str, holder: str, ttl: float) -> None:
    bus = await Bus.connect(os.environ["NATS_URL"], service=holder)
    kv = await bus.ensure_bucket(KVSpec(bucket=bucket, ttl_seconds=ttl))
    lease = Lease(kv, name, holder, ttl)
    stop = asyncio.Event()
    keeper = asyncio.create_task(lease.keep(stop))
    announced = False
    while True:
        if lease.is_leader and not announced:
            print("LEADER", holder, flush=True)
            announced = True
        await asyncio.sleep(0.05)
    await keeper  # pragma: no cover - runs until killed


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
