"""`python -m cloud_actuator`: run the cloud-actuator service (settings from the environment)."""

from __future__ import annotations

import asyncio
import sys

from pydantic import ValidationError

from bosun_common.service import run_service_async
from cloud_actuator.offerings import UnavailablePatterns
from cloud_actuator.service import SERVICE, CloudActuatorSettings, ConfigError, body, load_provider_catalog


def main() -> None:
    try:
        settings = CloudActuatorSettings()
        load_provider_catalog(settings)
        UnavailablePatterns.parse(settings.sim_unavailable)
    except (ValidationError, ConfigError, ValueError) as exc:
        print(f"cloud-actuator: bad configuration: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    asyncio.run(run_service_async(SERVICE, body, settings))


if __name__ == "__main__":
    main()
