"""The informer: the only reader of the cluster.

Lists and watches Kubernetes objects and publishes their latest state and every
change to the bus.

May import: bosun_common.
"""
