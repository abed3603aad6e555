"""NodeClaim lifecycle, as Karpenter's nodeclaim controllers decide it. Pure: no asyncio, no I/O.

- `manifest`: the NodeClaim a scheduling decision creates (labels, hash annotations,
  requirements narrowed to the chosen options, the termination finalizer);
- `progress`: Launched -> Registered -> Initialized (-> Ready), and the liveness
  timeouts (launch 5 min, registration 15 min);
- `termination`: taint, evict through the Eviction API, terminate the instance,
  delete the Node, drop the finalizer.

Decisions are plain data (`Decision`); the shell turns them into plans.

May import: bosun_common (karpenter, catalog, kube_plans, cloud_plans) and
node_planner.provisioning (NewNodeClaim). No asyncio, no I/O.
"""

from node_planner.lifecycle.manifest import nodeclaim_manifest, nodeclaim_name
from node_planner.lifecycle.progress import Decision, LaunchState, progress
from node_planner.lifecycle.termination import terminate

__all__ = ["Decision", "LaunchState", "nodeclaim_manifest", "nodeclaim_name", "progress", "terminate"]
