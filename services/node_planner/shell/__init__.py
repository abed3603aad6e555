"""The node-planner's shell: the leader turns the cores' decisions into plans.

- `controller`: one pass over the view: provisioning (batched), NodeClaim
  lifecycle and termination, disruption every 10 s, NodePool status;
- `service`: STATE subscriptions, the catalog from KV, cloud outcomes, the lease.

May import: bosun_common and the node-planner core.
"""
