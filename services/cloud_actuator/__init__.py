"""The cloud-actuator: the only writer to the cloud.

Executes cloud plans through a CloudProvider (`sim`, `aws`), publishes the
instance-type catalog, and garbage-collects instances with no NodeClaim.

May import: bosun_common.
"""
