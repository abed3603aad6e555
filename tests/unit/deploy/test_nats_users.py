"""The prod overlay's nats-users.conf is what `bosun deploy nats-users` prints from the permission table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bosun_cli.main import main
from bosun_common.permissions import SERVICE_PERMISSIONS, allowed_publish

REPO = Path(__file__).resolve().parents[3]
CHECKED_IN = REPO / "deploy" / "kustomize" / "overlays" / "prod" / "nats-users.conf"


def test_the_checked_in_file_is_the_generated_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", "nats-users"]) == 0
    assert capsys.readouterr().out == CHECKED_IN.read_text(), (
        "regenerate: bosun deploy nats-users > deploy/kustomize/overlays/prod/nats-users.conf"
    )


def test_one_certificate_user_per_service_with_only_its_subjects() -> None:
    text = "\n".join(line for line in CHECKED_IN.read_text().splitlines() if not line.startswith("#"))
    accounts = json.loads(text.removeprefix("accounts: "))
    users = {u["user"]: u["permissions"] for u in accounts["BOSUN"]["users"]}
    assert set(users) == {f"CN=bosun-{s}" for s in SERVICE_PERMISSIONS}
    for service in SERVICE_PERMISSIONS:
        permissions = users[f"CN=bosun-{service}"]
        assert permissions["publish"] == {"allow": list(allowed_publish(service))}
        assert permissions["subscribe"] == {"allow": ["_INBOX.>"]}
    assert not any("password" in u for u in accounts["BOSUN"]["users"])
