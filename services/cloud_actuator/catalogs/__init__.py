"""Built-in instance-type catalogs: `kwok` (Karpenter's KWOK catalog) and `aws` (real EC2 shapes).

`builtin_catalog(name)` returns a `bosun_common.catalog.Catalog`; the cloud-actuator
publishes it and the node-planner (and `bosun nodes`) consume it.

May import: the standard library and `bosun_common`.
"""

from __future__ import annotations

from bosun_common.catalog import Catalog

BUILTIN_CATALOGS = ("kwok", "aws")


def builtin_catalog(name: str) -> Catalog:
    """The built-in catalog called `name` (`kwok` or `aws`)."""
    if name == "kwok":
        from cloud_actuator.catalogs.kwok import kwok_catalog

        return kwok_catalog()
    if name == "aws":
        from cloud_actuator.catalogs.aws import aws_catalog

        return aws_catalog()
    raise KeyError(f"unknown built-in catalog {name!r}; choose one of {', '.join(BUILTIN_CATALOGS)}")
