"""CEL for the graph engine, on cel-expr-python (Google's C++ CEL).

- `library`: kro's functions (hash, json, random, maps, lists, runtime) and
  `k8s_library`: the Kubernetes CEL libraries (quantity, url, regex, ip/cidr,
  lists, semver), declared as cel FunctionDecls with Python implementations;
- `environment`: builds checking environments (variables typed from OpenAPI
  via `proto_types`) and evaluation environments (variables DYN);
- `checked`: reads the references (identifiers used) out of a checked
  expression, which is how dependencies are found;
- `types`: CEL type names <-> OpenAPI schemas (assignability, status inference);
- `limits`: the cost and size limits, documented there.

May import: cel_expr_python, google.protobuf, graph_planner.errors,
graph_planner.schemas (types only). No I/O.
"""
