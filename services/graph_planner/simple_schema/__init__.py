"""Simple Schema: kro's compact schema language, turned into OpenAPI v3 and a CRD.

`to_openapi` turns `spec.schema.spec` (and custom `types`) into an OpenAPI v3
schema; `apply_defaults` fills an instance's spec as the API server would;
`build_crd` wraps the spec and the inferred status schema into the generated
CustomResourceDefinition; `breaking_changes` / `update_allowed` compare a CRD
update with the installed one.

May import: graph_planner.errors and the standard library (no CEL, no I/O).
"""

from graph_planner.simple_schema.compat import breaking_changes, update_allowed
from graph_planner.simple_schema.crd import CRDInput, build_crd, default_printer_columns
from graph_planner.simple_schema.defaults import apply_defaults
from graph_planner.simple_schema.markers import Marker, parse_field, parse_markers
from graph_planner.simple_schema.transform import to_openapi

__all__ = [
    "CRDInput",
    "Marker",
    "apply_defaults",
    "breaking_changes",
    "build_crd",
    "default_printer_columns",
    "parse_field",
    "parse_markers",
    "to_openapi",
    "update_allowed",
]
