/**
 * The columns of a corpus shard checked from its footer, before any row is read: the id column is
 * a string or an integer, n_tokens an integer, the embeddings one of the three layouts; anything
 * else is named the way a person would say it ("list<string>", "struct<a: int32>"). Reads no data
 * pages; the levels it derives tell the row decoder what each definition level means.
 */
import type { SchemaElement, SchemaTree } from 'hyparquet';
import { getMaxDefinitionLevel, getMaxRepetitionLevel, getTreePath } from 'hyparquet/src/schema.js';

import type { EmbeddingsDType } from './embeddings-dtype.js';

/** Column names of a shard. */
export interface ShardColumns {
  /** @defaultValue 'id' */
  id: string;
  /** @defaultValue 'embeddings' */
  embeddings: string;
  /** Optional token count column. @defaultValue 'n_tokens' when present in the file */
  nTokens: string;
}

export const DEFAULT_COLUMNS: ShardColumns = { id: 'id', embeddings: 'embeddings', nTokens: 'n_tokens' };

/**
 * One repeated field on a leaf's path, with the definition levels that bound it: an entry with a
 * level below `parent` is a null above the list, `parent` itself an empty list, `self` or more
 * an element (Dremel encoding).
 */
export interface RepeatedLevel {
  parent: number;
  self: number;
}

/** The physical (leaf) column a top-level column is stored in, and what its levels mean. */
export interface LeafColumn {
  /** the top-level column's name */
  name: string;
  /** path_in_schema of the leaf */
  path: string[];
  /** root → leaf, as hyparquet's decoders take it */
  schemaPath: SchemaTree[];
  element: SchemaElement;
  maxDef: number;
  maxRep: number;
  /** the repeated fields from the outside in (one per list level) */
  repeated: RepeatedLevel[];
}

/**
 * (a) list<float> of n_tokens × dim values, (b) list<list<float>> (one inner list per token), with
 * float, double or float16 elements; (c) a blob of float32 or float16 values (embeddings-dtype.ts).
 */
export type EmbeddingsLayout = 'flat' | 'nested' | 'blob';

export interface ShardSchema {
  id: LeafColumn & { kind: 'int' | 'string' };
  /** `dtype`: a list leaf's element type; undefined for a blob (its type is declared beside the schema) */
  embeddings: LeafColumn & { layout: EmbeddingsLayout; dtype: EmbeddingsDType | undefined };
  nTokens: LeafColumn | undefined;
}

/** A column's type as a tree: what the Parquet groups and annotations amount to. */
type ColumnType =
  | { kind: 'primitive'; name: string; leaf: SchemaTree }
  | { kind: 'list'; element: ColumnType }
  | { kind: 'map'; key: ColumnType; value: ColumnType }
  | { kind: 'struct'; fields: { name: string; type: ColumnType }[] };

function isList(e: SchemaElement): boolean {
  return e.converted_type === 'LIST' || e.logical_type?.type === 'LIST';
}

function isMap(e: SchemaElement): boolean {
  return e.converted_type === 'MAP' || e.converted_type === 'MAP_KEY_VALUE' || e.logical_type?.type === 'MAP';
}

function primitiveName(e: SchemaElement): string {
  const lt = e.logical_type;
  const ct = e.converted_type;
  if (lt?.type === 'INTEGER') return `${lt.isSigned ? 'int' : 'uint'}${lt.bitWidth}`;
  if (ct?.startsWith('INT_')) return `int${ct.slice(4)}`;
  if (ct?.startsWith('UINT_')) return `uint${ct.slice(5)}`;
  if (lt?.type === 'DECIMAL' || ct === 'DECIMAL') return `decimal(${e.precision ?? '?'}, ${e.scale ?? 0})`;
  if (lt?.type === 'STRING' || ct === 'UTF8') return 'string';
  if (lt?.type === 'TIMESTAMP' || ct === 'TIMESTAMP_MILLIS' || ct === 'TIMESTAMP_MICROS' || e.type === 'INT96') return 'timestamp';
  // halves are 2-byte fixed-length arrays; the annotation on anything else is not a float16 we can read
  if (lt?.type === 'FLOAT16' && !(e.type === 'FIXED_LEN_BYTE_ARRAY' && e.type_length === 2)) return `float16 on ${e.type?.toLowerCase() ?? 'unknown'}(${e.type_length ?? '?'})`;
  if (lt?.type === 'TIME' || ct === 'TIME_MILLIS' || ct === 'TIME_MICROS') return 'time';
  if (lt) return lt.type.toLowerCase(); // date, json, bson, uuid, float16, enum, interval, variant, geometry, …
  if (ct) return ct.toLowerCase();
  switch (e.type) {
    case 'BYTE_ARRAY': return 'binary';
    case 'FIXED_LEN_BYTE_ARRAY': return `fixed_len_byte_array(${e.type_length ?? '?'})`;
    case undefined: return 'unknown';
    default: return e.type.toLowerCase(); // boolean, int32, int64, float, double
  }
}

/** The type of a schema node, ignoring its own repetition. */
function typeOf(node: SchemaTree): ColumnType {
  const e = node.element;
  if (node.children.length === 0) return { kind: 'primitive', name: primitiveName(e), leaf: node };
  const only = node.children.length === 1 ? node.children[0]! : undefined;
  if (isList(e) && only && only.element.repetition_type === 'REPEATED') {
    // 3-level list: repeated group with one element; 2-level (legacy): the repeated field is the element
    const element = only.children.length === 1 ? typeOf(only.children[0]!) : typeOf(only);
    return { kind: 'list', element };
  }
  if (isMap(e) && only && only.children.length === 2) {
    return { kind: 'map', key: fieldType(only.children[0]!), value: fieldType(only.children[1]!) };
  }
  return { kind: 'struct', fields: node.children.map((c) => ({ name: c.element.name, type: fieldType(c) })) };
}

/** A field's type, its repetition included (a repeated field outside a LIST group is a list). */
function fieldType(node: SchemaTree): ColumnType {
  const t = typeOf(node);
  return node.element.repetition_type === 'REPEATED' ? { kind: 'list', element: t } : t;
}

function describe(t: ColumnType): string {
  switch (t.kind) {
    case 'primitive': return t.name;
    case 'list': return `list<${describe(t.element)}>`;
    case 'map': return `map<${describe(t.key)}, ${describe(t.value)}>`;
    case 'struct': return `struct<${t.fields.map((f) => `${f.name}: ${describe(f.type)}`).join(', ')}>`;
  }
}

function isPrimitive(t: ColumnType, names: string[]): t is Extract<ColumnType, { kind: 'primitive' }> {
  return t.kind === 'primitive' && names.includes(t.name);
}

const INTEGERS = ['int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64'];
/** List leaves read as floats; float16 is FIXED_LEN_BYTE_ARRAY(2) annotated FLOAT16 (primitiveName). */
const FLOATS = ['float', 'double', 'float16'];
const LEAF_DTYPE: Record<string, EmbeddingsDType> = { float: 'float32', double: 'float64', float16: 'float16' };

function leafColumn(tree: SchemaTree, name: string, leaf: SchemaTree): LeafColumn {
  const schemaPath = getTreePath(tree, leaf.path);
  const repeated: RepeatedLevel[] = [];
  let def = 0;
  for (const node of schemaPath.slice(1)) {
    const r = node.element.repetition_type;
    if (r === 'REPEATED') repeated.push({ parent: def, self: def + 1 });
    if (r !== 'REQUIRED') def++;
  }
  return { name, path: leaf.path, schemaPath, element: leaf.element, maxDef: getMaxDefinitionLevel(schemaPath), maxRep: getMaxRepetitionLevel(schemaPath), repeated };
}

/** What an embeddings column may be, as a wrong one's message says. */
export const EMBEDDINGS_EXPECTED = 'list<float>, list<list<float>> (float, double or float16) or a float32/float16 blob';

export type SchemaCheck = { ok: true; schema: ShardSchema } | { ok: false; field: string; message: string };

/**
 * Checks the shard's columns from the footer. `columns` are the names asked for (missing ones
 * default); an n_tokens column named explicitly must exist, the default one is optional.
 */
export function checkShardSchema(tree: SchemaTree, asked: Partial<ShardColumns> = {}): SchemaCheck {
  const columns: ShardColumns = { ...DEFAULT_COLUMNS, ...asked };
  const top = new Map(tree.children.map((c) => [c.element.name, c]));
  const names = [...top.keys()].join(', ');
  for (const needed of [columns.id, columns.embeddings]) {
    if (!top.has(needed)) return { ok: false, field: needed, message: `no column \`${needed}\` (columns: ${names})` };
  }
  if (asked.nTokens !== undefined && !top.has(columns.nTokens)) return { ok: false, field: columns.nTokens, message: `no column \`${columns.nTokens}\` (columns: ${names})` };
  const bad = (name: string, type: ColumnType, expected: string): SchemaCheck => ({ ok: false, field: name, message: `column \`${name}\` is ${describe(type)}, expected ${expected}` });

  const idNode = top.get(columns.id)!;
  const idType = fieldType(idNode);
  if (!isPrimitive(idType, [...INTEGERS, 'string'])) return bad(columns.id, idType, 'string or integer ids');
  const id = { ...leafColumn(tree, columns.id, idType.leaf), kind: idType.name === 'string' ? ('string' as const) : ('int' as const) };

  const embNode = top.get(columns.embeddings)!;
  const embType = fieldType(embNode);
  let layout: EmbeddingsLayout | undefined;
  let embLeaf: SchemaTree | undefined;
  if (isPrimitive(embType, ['binary'])) [layout, embLeaf] = ['blob', embType.leaf];
  else if (embType.kind === 'list' && isPrimitive(embType.element, FLOATS)) [layout, embLeaf] = ['flat', embType.element.leaf];
  else if (embType.kind === 'list' && embType.element.kind === 'list' && isPrimitive(embType.element.element, FLOATS)) [layout, embLeaf] = ['nested', embType.element.element.leaf];
  const leafName = layout === 'blob' || !embLeaf ? undefined : primitiveName(embLeaf.element);
  if (!layout || !embLeaf) return bad(columns.embeddings, embType, EMBEDDINGS_EXPECTED);
  const embeddings = { ...leafColumn(tree, columns.embeddings, embLeaf), layout, dtype: leafName === undefined ? undefined : LEAF_DTYPE[leafName] };

  let nTokens: LeafColumn | undefined;
  const countNode = top.get(columns.nTokens);
  if (countNode) {
    const countType = fieldType(countNode);
    if (!isPrimitive(countType, INTEGERS)) return bad(columns.nTokens, countType, 'an integer token count');
    nTokens = leafColumn(tree, columns.nTokens, countType.leaf);
  }
  return { ok: true, schema: { id, embeddings, nTokens } };
}
