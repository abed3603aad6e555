"""The `bosun` command: the user's entry point.

Subcommands: `up` (the local stack), `rgd` (the graph engine offline),
`nodes` (the scheduling and disruption engine offline), and `deploy` (files
the kustomize overlays take from Bosun's own tables).

May import: everything. It is the one place that wires cores to files and terminals.
"""
