"""`python -m cloud_actuator`: run the cloud-actuator service (settings from the environment)."""

from __future__ import annotations

import asyncio

from bosun_common.service import run_service_async
from cloud_actuator.service import SERVICE, CloudActuatorSettings, body


def main() -> None:
    asyncio.run(run_service_async(SERVICE, body, CloudActuatorSettings()))


if __name__ == "__main__":
    main()
