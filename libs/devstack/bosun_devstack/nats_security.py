"""A NATS configuration with one user per service (subject permissions) and optional TLS."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from bosun_common.permissions import COMMON_SUBSCRIBE, SERVICE_PERMISSIONS, allowed_publish
from bosun_devstack import certs

ADMIN = "admin"


@dataclass
class NatsSecurity:
    """Credentials for every service plus an admin, and the TLS files when enabled."""

    passwords: dict[str, str] = field(default_factory=dict)
    ca: certs.KeyPair | None = None
    server: certs.KeyPair | None = None

    @classmethod
    def generate(cls, directory: Path, *, tls: bool) -> NatsSecurity:
        directory.mkdir(parents=True, exist_ok=True)
        passwords = {name: secrets.token_urlsafe(16) for name in (ADMIN, *SERVICE_PERMISSIONS)}
        if not tls:
            return cls(passwords)
        ca = certs.make_ca(directory, "nats-ca")
        server = certs.issue(
            ca,
            directory,
            "nats-server",
            common_name="nats",
            dns=("localhost",),
            ips=("127.0.0.1",),
            server=True,
        )
        return cls(passwords, ca, server)

    def config(self) -> str:
        """The server configuration (NATS's conf format accepts JSON-style values)."""
        users: list[dict[str, object]] = [{"user": ADMIN, "password": self.passwords[ADMIN]}]
        for service in SERVICE_PERMISSIONS:
            users.append(
                {
                    "user": service,
                    "password": self.passwords[service],
                    "permissions": {
                        "publish": {"allow": list(allowed_publish(service))},
                        "subscribe": {"allow": list(COMMON_SUBSCRIBE)},
                    },
                }
            )
        lines = ["accounts: " + json.dumps({"BOSUN": {"jetstream": "enabled", "users": users}}, indent=1)]
        if self.server is not None and self.ca is not None:
            lines.append(
                "tls: "
                + json.dumps(
                    {
                        "cert_file": str(self.server.cert),
                        "key_file": str(self.server.key),
                        "ca_file": str(self.ca.cert),
                        "timeout": 5,
                    }
                )
            )
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> Path:
        path.write_text(self.config())
        path.chmod(0o600)
        return path
