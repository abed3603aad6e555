"""`bosun rgd`: validate ResourceGraphDefinitions, print their CRD and DAG, render instances offline.

Output formats are a contract (CI parses them); see docs/graph-engine.md:

validate, per RGD, on stdout:
    ok <rgd-name> (<file>)
      kind: <Kind> (<group>/<version>)
      crd: <plural>.<group>
      order: <id> -> <id> -> ...
      pending: <apiVersion>/<Kind>, ...        (only when some kinds are not known yet)
    invalid <rgd-name> (<file>)
      - resource=<id|-> path=<path|-> reason=<Reason>: <message>
        expression: <cel>                      (only when an expression is involved)
  exit 0 when every RGD is valid (pending kinds included), 1 otherwise, 2 on unreadable input.
crd: the generated CRD as YAML. graph: Mermaid (`graph TD`) or Graphviz dot.
render: a YAML stream of the objects the instance should have now; pending nodes on stderr as
  `pending <id>: <reason>: <message>`, errors as `error <id>: ...` (exit 1 if any error).
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

RGD_KIND = "ResourceGraphDefinition"
Handler = Callable[[argparse.Namespace], int]


def _unreadable_is_exit_2(handler: Handler) -> Handler:
    """A file that cannot be read or parsed is a usage error (exit 2), not a traceback."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (OSError, yaml.YAMLError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return run


def _load_documents(path: Path) -> list[dict[str, Any]]:
    with path.open() as handle:
        return [doc for doc in yaml.safe_load_all(handle) if isinstance(doc, dict)]


def _load_rgds(paths: Iterable[str]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name in paths:
        for doc in _load_documents(Path(name)):
            if doc.get("kind") == RGD_KIND:
                out.append((name, doc))
    return out


def _schema_source(rgds: list[tuple[str, dict[str, Any]]], crd_files: Iterable[str] = ()) -> Any:
    """Built-in kinds, plus CRDs from files, plus the CRDs the given RGDs generate."""
    from graph_planner.graph import compile_graph
    from graph_planner.schemas import ChainedSchemaSource, builtin_schemas, schema_source_from_crds

    crds = [
        doc
        for name in crd_files
        for doc in _load_documents(Path(name))
        if doc.get("kind") == "CustomResourceDefinition"
    ]
    base = ChainedSchemaSource(builtin_schemas(), schema_source_from_crds(crds))
    generated = []
    for _name, rgd in rgds:
        result = compile_graph(rgd, base)
        if result.graph is not None:
            generated.append(result.graph.crd)
    return ChainedSchemaSource(base, schema_source_from_crds(generated))


def _rgd_name(rgd: Mapping[str, Any]) -> str:
    return str((rgd.get("metadata") or {}).get("name") or "<unnamed>")


def cmd_validate(args: argparse.Namespace) -> int:
    from graph_planner.graph import compile_graph

    rgds = _load_rgds(args.files)
    if not rgds:
        print("error: no ResourceGraphDefinition found", file=sys.stderr)
        return 2
    source = _schema_source(rgds, args.crd or ())
    failed = False
    for name, rgd in rgds:
        result = compile_graph(rgd, source)
        if result.errors or result.graph is None:
            failed = True
            print(f"invalid {_rgd_name(rgd)} ({name})")
            for error in result.errors:
                print(
                    f"  - resource={error.resource_id or '-'} path={error.path or '-'} reason={error.reason}: {error.message}"
                )
                if error.expression:
                    print(f"    expression: {error.expression}")
            continue
        graph = result.graph
        print(f"ok {_rgd_name(rgd)} ({name})")
        print(f"  kind: {graph.kind} ({graph.group}/{graph.api_version})")
        print(f"  crd: {graph.crd['metadata']['name']}")
        print(f"  order: {' -> '.join(graph.topological_order) or '(no resources)'}")
        if graph.pending_kinds:
            print(f"  pending: {', '.join(graph.pending_kinds)}")
    return 1 if failed else 0


def _compile_one(path: str, crd_files: Iterable[str] = ()) -> Any:
    from graph_planner.graph import compile_graph

    rgds = _load_rgds([path])
    if not rgds:
        print(f"error: no ResourceGraphDefinition in {path}", file=sys.stderr)
        return None
    result = compile_graph(rgds[0][1], _schema_source(rgds, crd_files))
    if result.graph is None:
        for error in result.errors:
            print(f"error: {error.render()}", file=sys.stderr)
        return None
    return result.graph


def cmd_crd(args: argparse.Namespace) -> int:
    graph = _compile_one(args.file, args.crd or ())
    if graph is None:
        return 1
    sys.stdout.write(yaml.safe_dump(graph.crd, sort_keys=False))
    return 0


def graph_text(graph: Any, fmt: str) -> str:
    """The DAG as Mermaid or Graphviz dot: one node per resource (kind in the label), edges dependency -> dependent."""
    lines: list[str] = []
    if fmt == "mermaid":
        lines.append("graph TD")
        for rid in graph.topological_order:
            node = graph.nodes[rid]
            shape = ("[(", ")]") if node.is_external else (("[[", "]]") if node.for_each else ("[", "]"))
            lines.append(f'  {rid}{shape[0]}"{rid}<br/>{node.kind}"{shape[1]}')
        for rid in graph.topological_order:
            for dep in graph.nodes[rid].dependencies:
                lines.append(f"  {dep} --> {rid}")
    else:
        lines.append(f'digraph "{graph.rgd_name or graph.kind}" {{')
        lines.append("  rankdir=TB;")
        for rid in graph.topological_order:
            node = graph.nodes[rid]
            style = ", style=dashed" if node.is_external else (", peripheries=2" if node.for_each else "")
            lines.append(f'  "{rid}" [label="{rid}\\n{node.kind}", shape=box{style}];')
        for rid in graph.topological_order:
            for dep in graph.nodes[rid].dependencies:
                lines.append(f'  "{dep}" -> "{rid}";')
        lines.append("}")
    return "\n".join(lines) + "\n"


def cmd_graph(args: argparse.Namespace) -> int:
    graph = _compile_one(args.file, args.crd or ())
    if graph is None:
        return 1
    sys.stdout.write(graph_text(graph, args.format))
    return 0


def _observed(directory: str | None) -> list[dict[str, Any]]:
    if not directory:
        return []
    objects: list[dict[str, Any]] = []
    for path in sorted(Path(directory).rglob("*")):
        if path.suffix in (".yaml", ".yml", ".json") and path.is_file():
            objects += [d for d in _load_documents(path) if d.get("kind") and d.get("apiVersion")]
    return objects


def cmd_render(args: argparse.Namespace) -> int:
    from graph_planner.runtime import plan_instance

    graph = _compile_one(args.rgd, args.crd or ())
    if graph is None:
        return 1
    instances = [d for d in _load_documents(Path(args.instance)) if d.get("kind") == graph.kind]
    if not instances:
        print(f"error: no {graph.kind} in {args.instance}", file=sys.stderr)
        return 1
    observed = _observed(args.observed)
    failed = False
    documents: list[dict[str, Any]] = []
    for instance in instances:
        result = plan_instance(graph, instance, observed)
        documents += result.desired
        name = (instance.get("metadata") or {}).get("name", "")
        for node in result.nodes:
            if node.state == "Pending":
                print(f"pending {name}/{node.id}: {node.reason}: {node.message}", file=sys.stderr)
            elif node.state == "Error":
                failed = True
                print(f"error {name}/{node.id}: {node.reason}: {node.message}", file=sys.stderr)
    sys.stdout.write(yaml.safe_dump_all(documents, sort_keys=False) if documents else "")
    return 1 if failed else 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("rgd", help="ResourceGraphDefinitions: validate, crd, graph, render")
    sub = parser.add_subparsers(dest="rgd_command", required=True)

    validate = sub.add_parser("validate", help="compile RGDs; print kind, CRD name and order, or the errors")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("--crd", action="append", metavar="FILE", help="CRDs whose kinds the RGDs use")
    validate.set_defaults(handler=_unreadable_is_exit_2(cmd_validate))

    crd = sub.add_parser("crd", help="print the generated CRD as YAML")
    crd.add_argument("file", metavar="FILE")
    crd.add_argument("--crd", action="append", metavar="FILE", help="CRDs whose kinds the RGD uses")
    crd.set_defaults(handler=_unreadable_is_exit_2(cmd_crd))

    graph = sub.add_parser("graph", help="print the dependency graph")
    graph.add_argument("file", metavar="FILE")
    graph.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")
    graph.add_argument("--crd", action="append", metavar="FILE", help="CRDs whose kinds the RGD uses")
    graph.set_defaults(handler=_unreadable_is_exit_2(cmd_graph))

    render = sub.add_parser("render", help="print the objects an instance should have now")
    render.add_argument("rgd", metavar="RGD")
    render.add_argument("instance", metavar="INSTANCE")
    render.add_argument("--observed", metavar="DIR", help="directory of observed objects (YAML)")
    render.add_argument("--crd", action="append", metavar="FILE", help="CRDs whose kinds the RGD uses")
    render.set_defaults(handler=_unreadable_is_exit_2(cmd_render))
