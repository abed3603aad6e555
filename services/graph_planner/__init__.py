"""The graph-planner: kro-compatible resource graphs.

Its pure core (no asyncio, no I/O) compiles ResourceGraphDefinitions into
graphs and plans each instance; its shell wires that core to the bus.

May import: bosun_common. The core subpackages may not import the shell.
"""
