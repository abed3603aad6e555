"""The k8s-actuator: the only writer to Kubernetes.

Executes Kubernetes plans idempotently (server-side apply, status, finalizers,
deletes, cordon, eviction drains) and publishes an outcome for every action.

May import: bosun_common.
"""
