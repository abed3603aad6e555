"""The graph-planner's shell: wires the pure core to the bus.

- `view`: the cluster as STATE tells it (pure data, no I/O);
- `partition`: which replica plans which key (rendezvous hashing over live members);
- `membership`: live replicas, as heartbeating keys in a KV bucket with a TTL;
- `service`: subscriptions, the reconcile loop, publishing plans.

May import: bosun_common and the graph-planner core.
"""
