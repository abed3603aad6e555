"""compile_graph: RGD (a plain dict) + SchemaSource -> CompileResult."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cel_expr_python import cel

from graph_planner.cel.environment import new_env
from graph_planner.cel.limits import MAX_EXPRESSIONS
from graph_planner.cel.proto_types import TypeRegistry
from graph_planner.cel.types import CelType, to_cel
from graph_planner.errors import (
    CYCLE,
    INVALID_CONDITION,
    INVALID_FOREACH,
    INVALID_TEMPLATE,
    LIMIT_EXCEEDED,
    SELF_REFERENCE,
    UNKNOWN_FIELD,
    GraphError,
    GraphValidationError,
)
from graph_planner.graph import dag
from graph_planner.graph.expressions import ExpressionCompiler
from graph_planner.graph.fields import FieldCompiler
from graph_planner.graph.model import (
    CompiledGraph,
    CompileResult,
    FieldExpression,
    ForEachDimension,
    ResourceNode,
)
from graph_planner.graph.schema_paths import unknown_fields
from graph_planner.graph.templates import (
    path_text,
    walk_strings,
)
from graph_planner.graph.validate import check_resources, check_schema_header
from graph_planner.schemas import OBJECT_META_SCHEMA, KindSchema, SchemaSource
from graph_planner.simple_schema import CRDInput, build_crd, to_openapi

T = cel.Type
STRING = CelType("STRING")
SCHEMA_VAR = "schema"
RUNTIME_VAR = "runtime"  # runtime.newCondition / runtime.condition


def _instance_kind_schema(group: str, version: str, kind: str, spec: Mapping[str, Any]) -> KindSchema:
    root = {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": OBJECT_META_SCHEMA,
            "spec": spec,
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }
    return KindSchema(f"{group}/{version}", kind, root, {})


class _Compiler:
    def __init__(self, rgd: Mapping[str, Any], schemas: SchemaSource) -> None:
        self.rgd = rgd
        self.schemas = schemas
        self.errors: list[GraphError] = []
        self.registry = TypeRegistry()
        self.exprs = ExpressionCompiler(self.registry.describe)
        self.fields = FieldCompiler(self.exprs, self.registry)

    # -- helpers ---------------------------------------------------------------
    def _guard(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except GraphValidationError as exc:
            self.errors.extend(exc.errors)
            return None

    # -- main ------------------------------------------------------------------------
    def run(self) -> CompileResult:
        spec = self.rgd.get("spec") if isinstance(self.rgd, Mapping) else None
        if not isinstance(spec, Mapping) or not isinstance(spec.get("schema"), Mapping):
            return CompileResult(
                None, (GraphError("InvalidSchema", "spec.schema is required", path="spec.schema"),)
            )
        schema = spec["schema"]
        self.errors += check_schema_header(schema)
        resources = spec.get("resources") or []
        self.errors += check_resources(spec.get("resources"))
        spec_schema = self._guard(to_openapi, schema.get("spec"), schema.get("types"))
        if self.errors:
            return CompileResult(None, tuple(self.errors))
        group = str(schema.get("group", "kro.run"))
        version, kind = str(schema["apiVersion"]), str(schema["kind"])
        instance = _instance_kind_schema(group, version, kind, spec_schema)

        # Types: every kind's message registered before the descriptor pool is built.
        kind_schemas: dict[str, KindSchema | None] = {}
        pending: list[str] = []
        for resource in resources:
            body = resource.get("template") or resource.get("externalRef")
            found = self.schemas.schema_for(body["apiVersion"], body["kind"])
            kind_schemas[resource["id"]] = found
            if found is None:
                pending.append(f"{body['apiVersion']}/{body['kind']}")
        ids = [r["id"] for r in resources]
        single: dict[str, Any] = {}
        for resource in resources:
            ks = kind_schemas[resource["id"]]
            single[resource["id"]] = T.DYN if ks is None else T(self.registry.message_for_kind(ks))
        schema_type = T(self.registry.message_for_kind(instance))
        pool = self.registry.pool()
        declared: dict[str, Any] = {SCHEMA_VAR: schema_type, RUNTIME_VAR: T.Map(T.STRING, T.DYN)}
        for resource in resources:
            rid = resource["id"]
            is_list = bool(resource.get("forEach")) or bool(
                ((resource.get("externalRef") or {}).get("metadata") or {}).get("selector")
            )
            declared[rid] = T.List(single[rid]) if is_list else single[rid]
        base_env = new_env(declared, pool)

        nodes: dict[str, ResourceNode] = {}
        for index, resource in enumerate(resources):
            node = self._guard(
                self._node,
                index,
                resource,
                kind_schemas[resource["id"]],
                declared,
                base_env,
                pool,
                single,
                ids,
            )
            if node is not None:
                nodes[node.id] = node
        if self.exprs.count > MAX_EXPRESSIONS:
            self.errors.append(
                GraphError(LIMIT_EXCEEDED, f"{self.exprs.count} expressions, over {MAX_EXPRESSIONS}")
            )
        custom_conditions = self.fields.custom_conditions(
            schema.get("status"), base_env, declared, self.errors
        )
        status_fields, status_schema = self.fields.status(
            schema.get("status"), base_env, declared, self.errors
        )
        if self.errors:
            return CompileResult(None, tuple(self.errors), tuple(dict.fromkeys(pending)))

        dependencies = {rid: list(nodes[rid].dependencies) for rid in ids}
        try:
            topo = dag.topological_order(ids, dependencies)
        except dag.CycleError as exc:
            for cycle in exc.cycles:
                self.errors.append(GraphError(CYCLE, f"dependency cycle: {' -> '.join(cycle)}", cycle[0], ""))
            return CompileResult(None, tuple(self.errors), tuple(dict.fromkeys(pending)))
        metadata = self.rgd.get("metadata")
        rgd_name = str(metadata.get("name", "")) if isinstance(metadata, Mapping) else ""
        layers = dag.deletion_layers(topo, dependencies)

        crd = build_crd(
            CRDInput(
                kind=kind,
                api_version=version,
                group=group,
                scope=str(schema.get("scope", "Namespaced")),
                spec_schema=spec_schema,
                status_schema=status_schema,
                short_names=tuple(schema.get("shortNames") or ()),
                categories=tuple(schema.get("categories") or ()),
                printer_columns=schema.get("additionalPrinterColumns"),
                labels=dict((schema.get("metadata") or {}).get("labels") or {}),
                annotations=dict((schema.get("metadata") or {}).get("annotations") or {}),
                rgd_name=rgd_name,
            )
        )
        graph = CompiledGraph(
            rgd_name=rgd_name,
            kind=kind,
            group=group,
            api_version=version,
            scope=str(schema.get("scope", "Namespaced")),
            crd=crd,
            spec_schema=spec_schema,
            status_fields=tuple(status_fields),
            custom_conditions=tuple(custom_conditions),
            nodes={rid: nodes[rid] for rid in ids},
            topological_order=tuple(topo),
            deletion_layers=tuple(tuple(layer) for layer in layers),
            pending_kinds=tuple(dict.fromkeys(pending)),
        )
        return CompileResult(graph, (), graph.pending_kinds)

    # -- one resource -------------------------------------------------------------------
    def _node(
        self,
        index: int,
        resource: Mapping[str, Any],
        ks: KindSchema | None,
        declared: dict[str, Any],
        base_env: Any,
        pool: Any,
        single: dict[str, Any],
        ids: list[str],
    ) -> ResourceNode:
        rid = resource["id"]
        errors: list[GraphError] = []
        names = list(declared)

        # forEach: iterators typed from each list's element type.
        for_each: list[ForEachDimension] = []
        iterator_types: dict[str, Any] = {}
        for position, entry in enumerate(resource.get("forEach") or []):
            ((name, text),) = entry.items()
            where = f"forEach[{position}].{name}"
            if name in declared:
                errors.append(
                    GraphError(INVALID_FOREACH, f"iterator {name!r} shadows a resource id", rid, where)
                )
                continue
            source = self.fields.single_expression(text, rid, where, INVALID_FOREACH)
            expression = self.exprs.compile(source, base_env, names, rid, where)
            if rid in expression.references:
                errors.append(
                    GraphError(
                        SELF_REFERENCE, "forEach cannot reference its own resource", rid, where, source
                    )
                )
            out = expression.output_type
            if out.name not in ("LIST", "DYN"):
                errors.append(
                    GraphError(INVALID_FOREACH, f"forEach must produce a list, got {out}", rid, where, source)
                )
            for_each.append(ForEachDimension(name, expression))
            # The iterator has the list's element type (dyn when the list's type is not known).
            iterator_types[name] = to_cel(out.args[0]) if out.name == "LIST" and out.args else T.DYN
        if errors:
            raise GraphValidationError(*errors)

        is_list = bool(for_each) or bool(
            ((resource.get("externalRef") or {}).get("metadata") or {}).get("selector")
        )
        template_vars = dict(declared) | iterator_types
        # One extra environment per collection: its iterators, and `each` for readyWhen.
        env = new_env(template_vars | {"each": single[rid]}, pool) if is_list else base_env
        body = (
            resource.get("template") if resource.get("template") is not None else resource.get("externalRef")
        )
        assert isinstance(body, Mapping)
        if ks is not None and resource.get("template") is not None:
            for path, message in unknown_fields(ks, body):
                errors.append(GraphError(UNKNOWN_FIELD, message, rid, path_text(path)))
        fields: list[FieldExpression] = []
        for path, text in walk_strings(body):
            if "${" not in text:
                continue
            field = self.fields.field(rid, path, text, env, template_vars, ks, errors)
            if field is not None:
                fields.append(field)
        references: set[str] = set()
        for field in fields:
            references |= field.references
        if "each" in references:
            errors.append(GraphError(INVALID_TEMPLATE, "'each' may only be used in readyWhen", rid))
        if rid in references:
            errors.append(GraphError(SELF_REFERENCE, f"resource {rid!r} references itself", rid))

        include_when = []
        for position, text in enumerate(resource.get("includeWhen") or []):
            where = f"includeWhen[{position}]"
            source = self.fields.single_expression(text, rid, where, INVALID_CONDITION)
            expression = self.exprs.compile(source, base_env, names, rid, where)
            if rid in expression.references:
                errors.append(
                    GraphError(
                        SELF_REFERENCE, "includeWhen cannot reference its own resource", rid, where, source
                    )
                )
            self.fields.require_bool(expression, rid, where, "includeWhen", errors)
            include_when.append(expression)
            references |= expression.references
        for dimension in for_each:
            references |= dimension.expression.references

        ready_when = []
        ready_var = "each" if is_list else rid
        ready_names = [*template_vars, "each"] if is_list else names
        for position, text in enumerate(resource.get("readyWhen") or []):
            where = f"readyWhen[{position}]"
            source = self.fields.single_expression(text, rid, where, INVALID_CONDITION)
            try:
                expression = self.exprs.compile(source, env if is_list else base_env, ready_names, rid, where)
            except GraphValidationError as exc:
                errors.extend(exc.errors)
                continue
            outside = sorted(expression.references - {ready_var})
            if outside:
                message = f"readyWhen may only reference {ready_var!r}, not {', '.join(map(repr, outside))}"
                errors.append(GraphError(INVALID_CONDITION, message, rid, where, source))
                continue
            self.fields.require_bool(expression, rid, where, "readyWhen", errors)
            ready_when.append(expression)
        if errors:
            raise GraphValidationError(*errors)

        dependencies = tuple(sorted((r for r in references if r in ids and r != rid), key=ids.index))
        external = resource.get("externalRef")
        return ResourceNode(
            id=rid,
            index=index,
            api_version=str(body["apiVersion"]),
            kind=str(body["kind"]),
            template=None if external is not None else dict(body),
            external_ref=dict(external) if external is not None else None,
            fields=tuple(fields),
            include_when=tuple(include_when),
            ready_when=tuple(ready_when),
            for_each=tuple(for_each),
            dependencies=dependencies,
            namespaced=None if ks is None else ks.namespaced,
            schema_pending=ks is None,
        )


def compile_graph(rgd: Mapping[str, Any], schemas: SchemaSource) -> CompileResult:
    """Compile one ResourceGraphDefinition.

    Returns a CompileResult with either a CompiledGraph (whose `pending_kinds`
    lists kinds the SchemaSource does not know yet: those resources are typed
    dyn until their schema appears), or every error found, each with its
    resource id, field path and expression. Never raises for bad input.
    """
    return _Compiler(rgd, schemas).run()
