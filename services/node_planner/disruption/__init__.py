"""Disruption: which nodes to remove or replace, and why.

Emptiness, drift, expiration and single- and multi-node consolidation (the
latter a binary search over candidates), within NodePool budgets (counts and
percentages, cron schedules, reasons), honouring `do-not-disrupt` and PDBs,
with a configurable minimum price improvement. Consolidation reuses the
provisioning scheduler to simulate where pods would go. Pure: no asyncio,
no I/O.

May import: the standard library, numpy, croniter, `bosun_common.catalog`,
`bosun_common.karpenter`, `node_planner.scheduling` and
`node_planner.provisioning`.
"""
