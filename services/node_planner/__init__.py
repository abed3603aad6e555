"""The node-planner: Karpenter-compatible just-in-time nodes.

Its pure core (no asyncio, no I/O) simulates scheduling, packs pods onto the
cheapest offerings and decides disruption; its shell wires that core to the bus.

May import: bosun_common. The core subpackages may not import the shell.
"""
