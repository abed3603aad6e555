"""Scheduling primitives: the constraint algebra every decision is built on.

Requirements (In, NotIn, Exists, DoesNotExist, Gt, Lt, Gte, Lte, with
complements, integer bounds and minValues), taints and tolerations, resource
arithmetic, the plain-data views of Pods, Nodes, DaemonSets and PDBs that
the provisioning and disruption packages work on, and persistent-volume
resolution (zones and CSI drivers of a pod's claims). Pure: no asyncio, no I/O.

May import: the standard library, numpy, `bosun_common.catalog` and
`bosun_common.karpenter`. Never `provisioning` or `disruption`.
"""
