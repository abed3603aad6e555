"""The resource graph: `${...}` templates, dependencies, the DAG, and compile_graph.

- `templates`: find `${...}` in strings (standalone or string templates, escapes);
- `dag`: Kahn's topological order with ties broken by declaration order, cycle
  paths, reverse layers for deletion;
- `model`: CompiledGraph, ResourceNode, FieldExpression, CompileResult;
- `validate`: structural checks on an RGD (ids, template/externalRef, forEach, nesting);
- `expressions`: compile one expression, classify checker errors into reasons;
- `schema_paths`: walk OpenAPI schemas along template paths (unknown fields, target types);
- `fields`: compile template fields and status fields (type checks, status schema inference);
- `compiler`: compile_graph (RGD + SchemaSource -> CompileResult);
- `status`: the RGD's status from a CompileResult.

May import: graph_planner.cel, graph_planner.simple_schema, graph_planner.schemas,
graph_planner.errors. No asyncio, no I/O.
"""

from graph_planner.graph.compiler import compile_graph
from graph_planner.graph.model import CompiledGraph, CompileResult, FieldExpression, ResourceNode
from graph_planner.graph.status import rgd_status

__all__ = [
    "CompileResult",
    "CompiledGraph",
    "FieldExpression",
    "ResourceNode",
    "compile_graph",
    "rgd_status",
]
