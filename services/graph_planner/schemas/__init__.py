"""Schema sources: where the engine learns the OpenAPI schema of each kind it templates.

The core only sees the `SchemaSource` protocol (kind -> schema, or None for
"not known yet", which makes a resource *pending*, not invalid). This package
also holds adapters: `StaticSchemaSource` (schemas in memory: from CRDs with `schema_source_from_crds`,
from the API server's `/openapi/v3` documents with `schema_source_from_openapi`),
`ChainedSchemaSource`, and `builtin_schemas()` which loads the bundled
snapshot of built-in Kubernetes kinds (`builtin.json.gz`, package data;
regenerate with `generate.py`). Loading package data is the only file read in
the graph-planner core packages, and it happens once, when a caller asks.

May import: the standard library only.
"""

from graph_planner.schemas.source import (
    OBJECT_META_SCHEMA,
    ChainedSchemaSource,
    KindSchema,
    SchemaSource,
    StaticSchemaSource,
    builtin_schemas,
    schema_source_from_crds,
    schema_source_from_openapi,
)

__all__ = [
    "OBJECT_META_SCHEMA",
    "ChainedSchemaSource",
    "KindSchema",
    "SchemaSource",
    "StaticSchemaSource",
    "builtin_schemas",
    "schema_source_from_crds",
    "schema_source_from_openapi",
]
