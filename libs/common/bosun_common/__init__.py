"""Bosun's shared library: the contracts and plumbing every service uses.

What lives here: the bus (JetStream wrapper), message models and their codec,
telemetry (traces, JSON logs, metrics), the service runner, the Kubernetes
client helpers, and the pydantic models that are the contracts between services
(Kubernetes plans, the Karpenter API, the instance-type catalog).

May import: the standard library and third-party packages only. Never a service.
"""
