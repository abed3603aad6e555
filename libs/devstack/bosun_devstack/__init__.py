"""The real local stack: NATS JetStream and a Kubernetes control plane on loopback.

Used by `bosun up`, `make run` and the integration tests' session fixtures.
Starts real processes (nats-server, etcd, kube-apiserver, kube-scheduler,
kube-controller-manager, kwok) and always stops them.

May import: bosun_common and the standard library. Never a service.
"""
