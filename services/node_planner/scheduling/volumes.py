"""Persistent volumes: which CSI driver a pod's claims use, and which zones they tie it to.

A PersistentVolumeClaim bound to a PersistentVolume brings the volume's
required node affinity (typically its zone) as a pod requirement and counts
against the volume limit of the volume's CSI driver. An unbound claim counts
against its StorageClass's provisioner and, when the class lists
`allowedTopologies`, is limited to those. Resolution is done once, before
scheduling, and yields an ordinary `Pod` with those requirements and volume
counts folded in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from node_planner.scheduling.objects import Pod
from node_planner.scheduling.requirements import Requirement, Requirements


@dataclass(frozen=True)
class VolumeClaim:
    namespace: str
    name: str
    storage_class: str | None
    volume_name: str | None


@dataclass(frozen=True)
class PersistentVolume:
    name: str
    driver: str | None
    node_terms: tuple[Requirements, ...]  # ORed; Bosun uses the first, as for pods


@dataclass(frozen=True)
class StorageClass:
    name: str
    provisioner: str
    topologies: tuple[Requirements, ...]


def _terms(terms: Sequence[Mapping[str, Any]], key: str) -> tuple[Requirements, ...]:
    return tuple(
        Requirements(
            Requirement.new(str(e["key"]), str(e["operator"]), [str(v) for v in e.get("values") or []])
            for e in term.get(key) or []
        )
        for term in terms
    )


def parse_claim(document: Mapping[str, Any]) -> VolumeClaim:
    metadata, spec = document.get("metadata") or {}, document.get("spec") or {}
    return VolumeClaim(
        str(metadata.get("namespace") or "default"),
        str(metadata.get("name", "")),
        spec.get("storageClassName"),
        spec.get("volumeName"),
    )


def parse_volume(document: Mapping[str, Any]) -> PersistentVolume:
    spec = document.get("spec") or {}
    required = ((spec.get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms") or []
    return PersistentVolume(
        str((document.get("metadata") or {}).get("name", "")),
        (spec.get("csi") or {}).get("driver"),
        _terms(required, "matchExpressions"),
    )


def parse_storage_class(document: Mapping[str, Any]) -> StorageClass:
    return StorageClass(
        str((document.get("metadata") or {}).get("name", "")),
        str(document.get("provisioner", "")),
        _terms(document.get("allowedTopologies") or [], "matchLabelExpressions"),
    )


@dataclass
class VolumeCatalog:
    claims: dict[tuple[str, str], VolumeClaim] = field(default_factory=dict)
    volumes: dict[str, PersistentVolume] = field(default_factory=dict)
    classes: dict[str, StorageClass] = field(default_factory=dict)

    def add(self, document: Mapping[str, Any]) -> bool:
        """Take a PersistentVolumeClaim, PersistentVolume or StorageClass; False for other kinds."""
        kind = document.get("kind")
        if kind == "PersistentVolumeClaim":
            claim = parse_claim(document)
            self.claims[(claim.namespace, claim.name)] = claim
        elif kind == "PersistentVolume":
            volume = parse_volume(document)
            self.volumes[volume.name] = volume
        elif kind == "StorageClass":
            storage_class = parse_storage_class(document)
            self.classes[storage_class.name] = storage_class
        else:
            return False
        return True


def resolve_volumes(pod: Pod, catalog: VolumeCatalog) -> Pod:
    """`pod` with its claims' drivers counted and their topology added to every required term."""
    if not pod.claims:
        return pod
    volumes = dict(pod.volumes)
    extra = Requirements()
    for name in pod.claims:
        claim = catalog.claims.get((pod.namespace, name))
        if claim is None:
            continue
        volume = catalog.volumes.get(claim.volume_name or "")
        storage_class = catalog.classes.get(claim.storage_class or "")
        driver = (
            volume.driver if volume is not None else (storage_class.provisioner if storage_class else None)
        )
        if driver:
            volumes[driver] = volumes.get(driver, 0) + 1
        if volume is not None and volume.node_terms:
            extra.add_all(volume.node_terms[0])
        elif volume is None and storage_class is not None and storage_class.topologies:
            extra.add_all(storage_class.topologies[0])
    if not extra:
        return dataclasses.replace(pod, volumes=volumes)
    terms = [term.merged(extra) for term in pod.node_requirement_terms] or [extra]
    return dataclasses.replace(pod, volumes=volumes, node_requirement_terms=terms)
