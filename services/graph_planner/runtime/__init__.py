"""Planning one instance: compiled graph + instance + observed objects -> plan + status.

- `observed`: an index of the objects the informer reported;
- `labels`: kro's labels on children and the ApplySet id;
- `render`: evaluate a node's template into an object (pending when data is missing);
- `collections`: forEach expansion (cartesian product, limits);
- `nodes`: resolve each node (included? pending? ready?) in topological order;
- `status`: the instance status (state, conditions, per-resource reasons);
- `planner`: plan_instance, the entry point (apply, prune, delete in waves, status).

May import: graph_planner.graph (model), graph_planner.cel, graph_planner.errors,
graph_planner.conditions, graph_planner.simple_schema (defaults), bosun_common.kube_plans.
No asyncio, no I/O.
"""

from graph_planner.runtime.model import InstancePlan, NodeState
from graph_planner.runtime.planner import plan_instance

__all__ = ["InstancePlan", "NodeState", "plan_instance"]
