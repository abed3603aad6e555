"""Regenerate `aws_shapes.json` from the EC2 data moto bundles (run once; the output is committed).

    .venv/bin/python -m cloud_actuator.catalogs.generate_aws

Reads moto's `describe_instance_types` data and its us-east-1 availability-zone
offerings, keeps common general-purpose, compute, memory, burstable and GPU
families, and writes one compact row per instance type: vCPU, memory (MiB),
architecture, GPU count and model, ENIs, IPv4 addresses per ENI, bare metal,
hypervisor and the zones that offer it.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

REGION = "us-east-1"
FAMILIES = (
    "c5", "c5a", "c6a", "c6g", "c6i", "c7a", "c7g", "c7i",
    "m5", "m5a", "m6a", "m6g", "m6i", "m7a", "m7g", "m7i",
    "r5", "r5a", "r6a", "r6g", "r6i", "r7a", "r7g", "r7i",
    "t3", "t3a", "t4g", "g4dn", "g5", "g6", "i4i",
)  # fmt: skip
OUTPUT = Path(__file__).with_name("aws_shapes.json")


def _moto_resource(*parts: str) -> Any:
    import moto.ec2

    path = Path(moto.ec2.__file__).parent.joinpath("resources", *parts)
    with gzip.open(path) as handle:
        return json.load(handle)


def generate() -> dict[str, Any]:
    types = _moto_resource("instance_types.json.gz")
    offerings = _moto_resource("instance_type_offerings", "availability-zone", f"{REGION}.json.gz")
    zones: dict[str, set[str]] = {}
    for offering in offerings:
        zones.setdefault(offering["InstanceType"], set()).add(offering["Location"])
    rows = {}
    for name in sorted(zones):
        family = name.split(".")[0]
        if family not in FAMILIES or name not in types:
            continue
        data = types[name]
        arches = data["ProcessorInfo"]["SupportedArchitectures"]
        arch = "arm64" if "arm64" in arches else "amd64"
        gpus = (data.get("GpuInfo") or {}).get("Gpus") or []
        network = data["NetworkInfo"]
        rows[name] = [
            data["VCpuInfo"]["DefaultVCpus"],
            data["MemoryInfo"]["SizeInMiB"],
            arch,
            sum(g["Count"] for g in gpus),
            gpus[0]["Name"].lower() if gpus else "",
            network["MaximumNetworkInterfaces"],
            network["Ipv4AddressesPerInterface"],
            bool(data.get("BareMetal")),
            data.get("Hypervisor", ""),
            sorted(zones[name]),
        ]
    return {
        "region": REGION,
        "source": "moto describe_instance_types + us-east-1 availability-zone offerings",
        "columns": [
            "vcpu",
            "memoryMiB",
            "arch",
            "gpus",
            "gpuName",
            "enis",
            "ipv4PerEni",
            "bareMetal",
            "hypervisor",
            "zones",
        ],
        "instanceTypes": rows,
    }


if __name__ == "__main__":
    OUTPUT.write_text(json.dumps(generate(), separators=(",", ":"), sort_keys=True) + "\n")
    print(f"wrote {OUTPUT}")
