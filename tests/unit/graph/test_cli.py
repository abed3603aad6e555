"""`bosun rgd validate|crd|graph|render`: output formats and exit codes (a contract for CI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bosun_cli.main import main

from .conftest import EXAMPLES

WEBAPP = str(EXAMPLES / "webapp" / "rg.yaml")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["rgd", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_prints_kind_crd_and_order(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", WEBAPP)
    assert code == 0
    assert out == (
        f"ok webapp.kro.run ({WEBAPP})\n"
        "  kind: WebApp (kro.run/v1alpha1)\n"
        "  crd: webapps.kro.run\n"
        "  order: deployment -> service -> ingress\n"
    )


def test_validate_resolves_kinds_generated_by_other_rgds(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in (EXAMPLES / "saas-multi-tenant").glob("*rgd.yaml"))
    code, out, _ = run(capsys, "validate", *files)
    assert code == 0
    assert "pending" not in out
    assert out.count("\nok ") + out.startswith("ok ") == 3


def test_validate_reports_each_error_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rgd = yaml.safe_load(Path(WEBAPP).read_text())
    rgd["spec"]["resources"][1]["template"]["metadata"]["name"] = "${deployment.metadata.nmae}"
    rgd["spec"]["resources"][0]["template"]["spec"]["replicas"] = "${schema.spec.name}"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(rgd))
    code, out, _ = run(capsys, "validate", str(path), WEBAPP)
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"invalid webapp.kro.run ({path})"
    assert lines[1].startswith(
        "  - resource=deployment path=spec.replicas reason=TypeMismatch: expected integer, got string"
    )
    assert lines[2] == "    expression: schema.spec.name"
    assert lines[3].startswith(
        "  - resource=service path=metadata.name reason=UnknownField: undefined field 'nmae'"
    )
    assert lines[4] == "    expression: deployment.metadata.nmae"
    assert lines[5] == f"ok webapp.kro.run ({WEBAPP})"


def test_validate_without_rgd_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("kind: ConfigMap\n")
    assert run(capsys, "validate", str(path))[0] == 2


def test_unreadable_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "validate", str(tmp_path / "missing.yaml"))[0] == 2
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [\n")
    assert run(capsys, "crd", str(broken))[0] == 2
    assert run(capsys, "render", WEBAPP, str(tmp_path / "missing.yaml"))[0] == 2


def test_crd_prints_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "crd", WEBAPP)
    assert code == 0
    crd = yaml.safe_load(out)
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == "webapps.kro.run"


def test_graph_mermaid_and_dot(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "graph", WEBAPP, "--format", "mermaid")
    assert code == 0
    assert out.splitlines()[0] == "graph TD"
    assert "  deployment --> service" in out and "  service --> ingress" in out
    code, out, _ = run(capsys, "graph", WEBAPP, "--format", "dot")
    assert code == 0
    assert out.startswith('digraph "webapp.kro.run" {') and '"deployment" -> "ingress";' in out


def test_render_without_observed_lists_pending_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "render", WEBAPP, str(EXAMPLES / "webapp" / "instance.yaml"))
    assert code == 0
    docs = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in docs] == ["Deployment"]
    assert docs[0]["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 80}]
    assert "pending test-app/service: WaitingForDependencies" in err
    assert "pending test-app/ingress" in err


def test_render_with_observed_objects(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fixture = EXAMPLES / "fixtures" / "external-ref"
    code, out, err = run(capsys, "render", str(fixture / "rgd.yaml"), str(fixture / "instance.yaml"))
    assert (code, out) == (0, "")
    assert "waiting for external ConfigMap upgrade-test/external-data" in err
    (tmp_path / "cm.yaml").write_text((EXAMPLES / "fixtures" / "01-external-configmap.yaml").read_text())
    code, out, err = run(
        capsys,
        "render",
        str(fixture / "rgd.yaml"),
        str(fixture / "instance.yaml"),
        "--observed",
        str(tmp_path),
    )
    assert code == 0 and err == ""
    (doc,) = yaml.safe_load_all(out)
    assert doc["data"] == {"inheritedEnv": "production", "inheritedLevel": "info"}


def test_render_is_byte_for_byte_stable_across_processes() -> None:
    command = [
        sys.executable,
        "-m",
        "bosun_cli.main",
        "rgd",
        "render",
        str(EXAMPLES / "core-dns" / "core-dns.yaml"),
        str(EXAMPLES / "core-dns" / "coredns-instance.yaml"),
    ]
    first = subprocess.run(command, capture_output=True, check=True)
    second = subprocess.run(command, capture_output=True, check=True)
    assert first.stdout == second.stdout and first.stdout
