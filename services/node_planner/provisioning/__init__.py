"""Provisioning: which pods need nodes, and the cheapest NodeClaims that fit them.

The batcher (with an injectable clock) decides when to solve; the scheduler
simulates Karpenter's Solve: queue order, placement onto existing nodes,
in-flight and new NodeClaims, NodePool limits, DaemonSet overhead, topology
spread and pod (anti-)affinity, preference relaxation, instance-type
filtering and ordering, minValues, and the launch choice. Pure: no asyncio,
no I/O.

May import: the standard library, numpy, `bosun_common.catalog`,
`bosun_common.karpenter` and `node_planner.scheduling`. Never `disruption`.
"""
