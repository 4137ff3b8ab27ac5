import {
  Kind,
  TypeInfo,
  getDirectiveValues,
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  getNamedType,
  getNullableType,
  getOperationAST,
  isAbstractType,
  isCompositeType,
  isListType,
  isObjectType,
  typeFromAST,
  visit,
  visitWithTypeInfo,
  type DirectiveNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLSchema,
  type SelectionSetNode,
} from "graphql";

/** An entity a cached response contains, or that a change touched: `{ typename }` alone = every entity of the type. */
export interface CacheEntity {
  typename: string;
  id?: string | number;
}

/**
 * Tag of "an entity of this type whose id the response does not show" (the client did not select
 * `id`, or the type of an abstract position is unknown). GraphQL names cannot contain `#`, so the
 * tag never collides with a type name; the cache drops entries with it whenever any entity of the
 * type is invalidated by id.
 */
export const unknownIdTag = (typename: string): string => `${typename}#anyid`;

/** The field whose value identifies an entity (as `@envelop/response-cache`'s default `idFields`). */
const ID_FIELD = "id";

/** What {@link collectCacheEntities} found in a result. */
export interface CollectedEntities {
  /** Entities (by id when shown, else an {@link unknownIdTag} type tag) and type-level tags. */
  entities: CacheEntity[];
  /** Smallest TTL of the result's types and schema coordinates found in `ttls`, ms; undefined when none applies. */
  ttl: number | undefined;
}

/** Options of {@link collectCacheEntities}. */
export interface CollectOptions {
  /** TTL by type name or schema coordinate (`Product`, `Query.products`), ms. */
  ttls?: Readonly<Record<string, number>>;
  /**
   * Mutations: only entities the result shows with their id (`Type:id`); an entity shown without
   * its id, a null or empty field (a refused field is null and changed nothing) and type-level
   * tags count for nothing, so a mutation can never drop a whole type.
   */
  changedOnly?: boolean;
}

/**
 * Reads which entities a GraphQL result holds by walking it together with the executed document
 * and the schema's types, instead of adding `__typename` / `id` selections to the document (which
 * would change what the query planner fetches, see README "Security"). Object positions know
 * their type statically; an abstract position (interface, union) is resolved with a `__typename`
 * the client selected, and otherwise counts as every possible type (more tags: invalidated more
 * often, never staler). Fields missing from the result (e.g. removed by authorization) are skipped.
 *
 * For queries (`changedOnly` unset) a null or empty-list field tags its return types (type-level),
 * so that a response showing "no product" is dropped when any product appears.
 * @param data the result's `data` (the executed operation's shape).
 * @param variables the operation's coerced variables (for `@skip` / `@include`).
 */
export function collectCacheEntities(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Readonly<Record<string, unknown>> | undefined,
  data: Readonly<Record<string, unknown>>,
  opts: CollectOptions = {},
): CollectedEntities {
  const op = getOperationAST(document, operationName);
  const ttls = opts.ttls ?? {};
  const out = new Map<string, CacheEntity>();
  let ttl: number | undefined;
  const ttlOf = (key: string): void => {
    const t = ttls[key];
    if (typeof t === "number" && !Number.isNaN(t)) ttl = ttl === undefined ? t : Math.min(ttl, t);
  };
  const tag = (e: CacheEntity): void => {
    out.set(e.id === undefined ? e.typename : `${e.typename}:${String(e.id)}`, e);
  };
  if (!op) return { entities: [], ttl };
  const rootType = schema.getRootType(op.operation);
  if (!rootType) return { entities: [], ttl };
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const vars = (variables ?? {}) as Record<string, unknown>;

  // Static schema coordinates of the document (`Query.products`), as @envelop/response-cache does.
  if (!opts.changedOnly) {
    const typeInfo = new TypeInfo(schema);
    visit(
      document,
      visitWithTypeInfo(typeInfo, {
        Field(node) {
          const parent = typeInfo.getParentType();
          if (parent) ttlOf(`${parent.name}.${node.name.value}`);
        },
      }),
    );
  }

  // Lists repeat the same selection set for every item: its fields are collected once per type.
  const memo = new WeakMap<SelectionSetNode, Map<GraphQLObjectType, Map<string, FieldNode[]>>>();
  const collect = (runtime: GraphQLObjectType, selectionSets: readonly SelectionSetNode[]): Map<string, FieldNode[]> => {
    const only = selectionSets.length === 1 ? selectionSets[0] : undefined;
    if (!only) return collectFields(runtime, selectionSets);
    let byType = memo.get(only);
    if (!byType) memo.set(only, (byType = new Map()));
    let fields = byType.get(runtime);
    if (!fields) byType.set(runtime, (fields = collectFields(runtime, selectionSets)));
    return fields;
  };
  const collectFields = (runtime: GraphQLObjectType, selectionSets: readonly SelectionSetNode[]): Map<string, FieldNode[]> => {
    const fields = new Map<string, FieldNode[]>();
    const seen = new Set<string>();
    const walkSet = (set: SelectionSetNode): void => {
      for (const sel of set.selections) {
        if (!included(sel.directives, vars)) continue;
        if (sel.kind === Kind.FIELD) {
          const key = sel.alias?.value ?? sel.name.value;
          const list = fields.get(key);
          if (list) list.push(sel);
          else fields.set(key, [sel]);
        } else if (sel.kind === Kind.INLINE_FRAGMENT) {
          if (conditionMatches(schema, sel.typeCondition?.name.value, runtime)) walkSet(sel.selectionSet);
        } else {
          const name = sel.name.value;
          const frag = fragments.get(name);
          if (!frag || seen.has(name)) continue;
          seen.add(name);
          if (conditionMatches(schema, frag.typeCondition.name.value, runtime)) walkSet(frag.selectionSet);
        }
      }
    };
    for (const s of selectionSets) walkSet(s);
    return fields;
  };

  /** The object type of `value` at an abstract position, from a `__typename` the client selected. */
  const concreteOf = (
    type: GraphQLCompositeType,
    value: Record<string, unknown>,
    selectionSets: readonly SelectionSetNode[],
  ): GraphQLObjectType | undefined => {
    if (isObjectType(type)) return type;
    for (const candidate of schema.getPossibleTypes(type)) {
      for (const [key, nodes] of collect(candidate, selectionSets)) {
        if (nodes[0]?.name.value === "__typename" && value[key] === candidate.name) return candidate;
      }
    }
    return undefined;
  };

  const walkValue = (type: GraphQLOutputType, value: unknown, selectionSets: readonly SelectionSetNode[]): void => {
    if (value === null || value === undefined) return;
    const nullable = getNullableType(type);
    if (isListType(nullable)) {
      if (Array.isArray(value)) for (const item of value) walkValue(nullable.ofType, item, selectionSets);
      return;
    }
    if (!isCompositeType(nullable) || typeof value !== "object" || Array.isArray(value)) return;
    const obj = value as Record<string, unknown>;
    const concrete = concreteOf(nullable, obj, selectionSets);
    const runtimes = concrete ? [concrete] : isAbstractType(nullable) ? schema.getPossibleTypes(nullable) : [];
    for (const runtime of runtimes) walkObject(runtime, obj, selectionSets);
  };

  const walkObject = (
    runtime: GraphQLObjectType,
    obj: Record<string, unknown>,
    selectionSets: readonly SelectionSetNode[],
    root = false,
  ): void => {
    const fields = collect(runtime, selectionSets);
    if (!root) {
      ttlOf(runtime.name);
      let id: unknown;
      for (const [key, nodes] of fields) if (nodes[0]?.name.value === ID_FIELD && id == null) id = obj[key];
      // (A changed entity shown without its id is left to the bus event of the change.)
      if (typeof id === "string" || typeof id === "number") tag({ typename: runtime.name, id });
      else if (!opts.changedOnly) {
        tag({ typename: runtime.name });
        if (runtime.getFields()[ID_FIELD]) tag({ typename: unknownIdTag(runtime.name) });
      }
    }
    const defs = runtime.getFields();
    for (const [key, nodes] of fields) {
      const first = nodes[0];
      if (!first || !(key in obj)) continue;
      const def = defs[first.name.value];
      if (!def) continue;
      ttlOf(`${runtime.name}.${first.name.value}`);
      const child = obj[key];
      const named = getNamedType(def.type);
      if (!isCompositeType(named)) continue;
      if (child === null || (Array.isArray(child) && child.length === 0)) {
        if (opts.changedOnly) continue;
        for (const t of isAbstractType(named) ? schema.getPossibleTypes(named) : [named]) {
          ttlOf(t.name);
          tag({ typename: t.name });
        }
        continue;
      }
      const subSets = nodes.flatMap((n) => (n.selectionSet ? [n.selectionSet] : []));
      walkValue(def.type, child, subSets);
    }
  };

  walkObject(rootType, data as Record<string, unknown>, [op.selectionSet], true);
  return { entities: [...out.values()], ttl };
}

/** Whether `@skip` / `@include` keep a selection (as graphql-js's collectFields decides). */
function included(directives: readonly DirectiveNode[] | undefined, vars: Record<string, unknown>): boolean {
  if (!directives?.length) return true;
  const node = { directives };
  if (getDirectiveValues(GraphQLSkipDirective, node, vars)?.["if"] === true) return false;
  if (getDirectiveValues(GraphQLIncludeDirective, node, vars)?.["if"] === false) return false;
  return true;
}

/** Whether a fragment with type condition `condition` applies to objects of type `runtime`. */
function conditionMatches(schema: GraphQLSchema, condition: string | undefined, runtime: GraphQLObjectType): boolean {
  if (condition === undefined) return true;
  const type = typeFromAST(schema, { kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: condition } });
  if (!type) return false;
  if (type === runtime) return true;
  return isAbstractType(type) && schema.isSubType(type, runtime);
}
