/**
 * QueryEngine: LEMUR search over one or more shards. Per query: features Σψ(q)/32 once, then
 * per shard the top-k' candidates by inner product with the shard's W rows (Faiss HNSW, Faiss
 * flat, or our blocked sgemm), tombstoned documents dropped, the global top k' of those kept,
 * exact MaxSim rerank of them, and the top k by exact score. Results carry external ids.
 *
 * Ownership: whoever opens a resource closes it. An engine made with `new` opens nothing: its
 * shards' token stores and indexes belong to the caller (openVersion for a published version).
 * An engine made with QueryEngine.build owns the Faiss indexes it built, and close() frees them.
 */
import { config } from '../config.js';
import { metrics } from '../metrics.js';
import { InvalidArgumentError } from '../errors.js';
import { IpIndex, type IpIndexKind } from '../native/ip-index.js';
import { maxsimExactTopK, maxsimRerank, type SearchResult } from '../native/maxsim.js';
import { innerProductTopK } from '../native/ols.js';
import type { TokenStore } from '../native/token-store.js';
import type { LemurModel } from '../model/lemur-model.js';

export type CandidateSource = 'hnsw' | 'flat' | 'bruteforce';
export type DocId = bigint | string;

/** One shard: a token store, its external ids and W rows, and optional Faiss indexes over W. */
export interface EngineShard {
  store: TokenStore;
  /** External id of each position of the store. */
  ids: BigInt64Array | string[];
  /**
   * W rows, store.nDocs × model.hidden, when held in memory (QueryEngine.build). A published
   * version keeps W once, in its HNSW index's rows (fp32, fp16 or sq8): the exact scan then reads
   * those (IpIndex.scan; ids = positions).
   */
  W?: Float32Array;
  hnsw?: IpIndex;
  flat?: IpIndex;
}

export interface EngineBuildOptions {
  /** Indexes to build per shard. @defaultValue ['hnsw', 'flat'] */
  kinds?: IpIndexKind[];
  M?: number;
  efConstruction?: number;
  threads?: number;
}

export interface EngineSearchOptions {
  /** @defaultValue 10 */
  k?: number;
  /** Candidates per shard before the rerank. @defaultValue 100 */
  kPrime?: number;
  /** HNSW beam width. @defaultValue 2 × kPrime */
  efSearch?: number;
  /** 'auto': for batches under 8 queries our scan below 12 000 documents per shard, HNSW above; otherwise our sgemm scan below `flatBelow` documents per shard, HNSW above. @defaultValue 'auto' */
  candidates?: CandidateSource | 'auto';
  threads?: number;
}

/** Per-query results, flat: row i is ids/scores [i·k, (i+1)·k); a missing result is id null, score -Infinity. */
export class EngineResult {
  constructor(
    readonly nq: number,
    readonly k: number,
    readonly ids: (DocId | null)[],
    readonly scores: Float32Array,
  ) {}

  row(i: number): { ids: (DocId | null)[]; scores: Float32Array } {
    return { ids: this.ids.slice(i * this.k, (i + 1) * this.k), scores: this.scores.subarray(i * this.k, (i + 1) * this.k) };
  }
}

/**
 * One document of one shard with a score: a candidate (inner product with the query's features)
 * or a hit (exact MaxSim). `shard` is the shard's ordinal in its version (its manifest index), so
 * shard groups serving parts of a version (src/serve) order ties exactly as one engine does.
 */
export interface Hit {
  score: number;
  shard: number;
  pos: number;
}

/** Best first; ties by shard, then position, so results do not depend on arrival order. */
export const byScore = (a: Hit, b: Hit): number => b.score - a.score || a.shard - b.shard || a.pos - b.pos;

/** Appends a shard's per-query results (positions; -1 = none) to each query's hits. */
function collect(hits: Hit[][], shard: number, r: SearchResult): void {
  for (let q = 0; q < hits.length; q++) {
    const row = r.row(q);
    for (let i = 0; i < row.labels.length; i++) {
      if (row.labels[i]! >= 0n) hits[q]!.push({ score: row.distances[i]!, shard, pos: Number(row.labels[i]!) });
    }
  }
}

/**
 * Each query's global top k' of candidates gathered from every shard (or every shard group): the
 * rerank then costs k' per query however many shards an index has grown to. Unordered when a
 * query has k' or fewer (the rerank does not care); best first otherwise.
 */
export function topCandidates(cands: Hit[][], kPrime: number): Hit[][] {
  return cands.map((c) => (c.length > kPrime ? c.sort(byScore).slice(0, kPrime) : c));
}

/** Each query's top k of exact hits, as an EngineResult; idOf names a hit's document. */
export function mergeHits(hits: Hit[][], k: number, idOf: (h: Hit) => DocId): EngineResult {
  const nq = hits.length;
  const ids: (DocId | null)[] = new Array(nq * k).fill(null);
  const scores = new Float32Array(nq * k).fill(-Infinity);
  for (let q = 0; q < nq; q++) {
    const h = hits[q]!.sort(byScore);
    for (let i = 0; i < Math.min(k, h.length); i++) {
      ids[q * k + i] = idOf(h[i]!);
      scores[q * k + i] = h[i]!.score;
    }
  }
  return new EngineResult(nq, k, ids, scores);
}

/**
 * Below this many documents a batched exact scan of a shard beats HNSW. Measured with
 * bench/query-engine.ts (1000 queries, 2 threads): at 10 000 docs the scan gives 1569 QPS at
 * recall@10 0.964 (k' 100) against HNSW's 866; at 100 000 docs 410 QPS at 0.931 (k' 200) against
 * HNSW's 126 at 0.920 (efSearch 800). The crossover lies above 100 000; one query at a time
 * HNSW won at every size measured with the sgemm scan (p50 7.6 ms against 66 ms at 100 000 docs;
 * see DEFAULT_SINGLE_SCAN_BELOW for the threaded scan of a few queries).
 */
export const DEFAULT_FLAT_BELOW = 200_000;
/** Batches smaller than this are "a few queries" in 'auto' mode. */
const SINGLE_QUERY_BATCH = 8;
/**
 * A few queries scan shards below this many documents and walk HNSW above. The scan of 1–4
 * queries is one threaded pass over W (memory-bound, ~0.34 ms per 1 000 docs of 2048-d rows on 2
 * cores with AVX-512, ~0.46 ms with AVX2); HNSW (efSearch 2k') costs ~5.5 ms on real W and grows
 * slowly. Measured 2026-12-02 on `small` (bench/query-engine.ts, k' 200): scan p50 7.6 ms at
 * recall@10 0.980, HNSW ef 200 9.4 ms at 0.972. Crossover ≈ 16 000 docs (AVX-512), ≈ 12 000
 * (AVX2): the lower one is the default.
 */
export const DEFAULT_SINGLE_SCAN_BELOW = 12_000;

export class QueryEngine {
  readonly #model: LemurModel;
  readonly #shards: EngineShard[];
  readonly #deleted: Uint8Array[];
  readonly #deletedCount: number[];
  readonly #flatBelow: number;
  /** Each shard's ordinal in its version (Hit.shard), and back. */
  readonly #ordinals: number[];
  readonly #local = new Map<number, number>();
  /** Indexes this engine built (QueryEngine.build), freed by close(). */
  #owned: IpIndex[] = [];

  /**
   * @param options.ordinals each shard's ordinal in its version when the engine holds part of one
   * (a shard group): hits name shards by these. @defaultValue 0, 1, 2, …
   */
  constructor(model: LemurModel, shards: EngineShard[], options: { flatBelow?: number; ordinals?: number[] } = {}) {
    if (shards.length === 0) throw new InvalidArgumentError('Expected at least one shard');
    const ordinals = options.ordinals ?? shards.map((_, i) => i);
    if (ordinals.length !== shards.length || new Set(ordinals).size !== ordinals.length || !ordinals.every((o) => Number.isInteger(o) && o >= 0)) {
      throw new InvalidArgumentError(`Expected ${shards.length} distinct shard ordinals but received [${ordinals.join(', ')}]`);
    }
    for (const [i, s] of shards.entries()) {
      if (s.store.dim !== model.dim) throw new InvalidArgumentError(`shard ${i}: token store dim ${s.store.dim} differs from the model's ${model.dim}`);
      if (s.W && s.W.length !== s.store.nDocs * model.hidden) throw new InvalidArgumentError(`shard ${i}: W has ${s.W.length / model.hidden} rows for ${s.store.nDocs} documents`);
      if (!s.W && !(s.hnsw && s.hnsw.ntotal === s.store.nDocs && s.hnsw.d === model.hidden)) {
        throw new InvalidArgumentError(`shard ${i}: without W rows, an HNSW index of ${s.store.nDocs} rows of dim ${model.hidden} is needed (has ${s.hnsw ? `${s.hnsw.ntotal} of dim ${s.hnsw.d}` : 'none'})`);
      }
      if (s.ids.length !== s.store.nDocs) throw new InvalidArgumentError(`shard ${i}: ${s.ids.length} ids for ${s.store.nDocs} documents`);
    }
    this.#model = model;
    this.#shards = shards;
    this.#deleted = shards.map((s) => new Uint8Array(s.store.nDocs));
    this.#deletedCount = shards.map(() => 0);
    this.#flatBelow = options.flatBelow ?? DEFAULT_FLAT_BELOW;
    this.#ordinals = ordinals;
    ordinals.forEach((o, i) => this.#local.set(o, i));
  }

  /**
   * An engine over token stores held in memory (library use, tests, benchmarks; the pipeline
   * serves published versions through openVersion): weights every store's documents and builds
   * the requested Faiss indexes over W (ids = positions). The engine owns the indexes it builds:
   * close() frees them. The token stores stay the caller's.
   */
  static async build(model: LemurModel, stores: TokenStore[], options: EngineBuildOptions = {}): Promise<QueryEngine> {
    const threads = options.threads ?? config().threads;
    const kinds = options.kinds ?? ['hnsw', 'flat'];
    const shards: EngineShard[] = [];
    const built: IpIndex[] = [];
    try {
      for (const store of stores) {
        const W = await model.weights(store, undefined, { threads });
        const positions = BigInt64Array.from({ length: store.nDocs }, (_, i) => BigInt(i));
        const shard: EngineShard = { store, ids: await store.ids(), W };
        for (const kind of kinds) {
          const ix = IpIndex.create({ d: model.hidden, kind, M: options.M ?? 32, efConstruction: options.efConstruction ?? 40 });
          built.push(ix);
          await ix.add(W, positions, { threads });
          shard[kind] = ix;
        }
        shards.push(shard);
      }
      const engine = new QueryEngine(model, shards);
      engine.#owned = built;
      return engine;
    } catch (err) {
      for (const ix of built) ix.close();
      throw err;
    }
  }

  /** Token dim queries must have. */
  get dim(): number {
    return this.#model.dim;
  }

  /** Feature dim (W rows). */
  get hidden(): number {
    return this.#model.hidden;
  }

  get shards(): readonly EngineShard[] {
    return this.#shards;
  }

  /** Marks documents deleted by external id: they are never returned again. Unknown ids are ignored. */
  delete(ids: Iterable<DocId>): number {
    const wanted = new Set<string>();
    for (const id of ids) wanted.add(String(id));
    let n = 0;
    this.#shards.forEach((s, si) => {
      const hit: number[] = [];
      for (let p = 0; p < s.ids.length; p++) if (wanted.has(String(s.ids[p]))) hit.push(p);
      n += this.tombstone(si, hit);
    });
    return n;
  }

  /** Marks positions of one shard deleted (a version's tombstones); returns how many were live. */
  tombstone(shard: number, positions: Iterable<number>): number {
    const del = this.#deleted[shard];
    if (!del) throw new InvalidArgumentError(`Expected a shard index below ${this.#shards.length} but received ${shard}`);
    let n = 0;
    for (const p of positions) {
      if (!Number.isInteger(p) || p < 0 || p >= del.length) throw new InvalidArgumentError(`shard ${shard}: position ${p} outside 0..${del.length - 1}`);
      if (!del[p]) {
        del[p] = 1;
        n++;
      }
    }
    this.#deletedCount[shard]! += n;
    return n;
  }

  /** Live documents across shards. */
  get liveDocs(): number {
    return this.#shards.reduce((a, s, i) => a + s.store.nDocs - this.#deletedCount[i]!, 0);
  }

  // 'auto': a few queries walk the HNSW graph (a scan reads all of W per query: memory-bound);
  // a batch scans small shards with one sgemm (bench/query-engine.ts measures the crossover).
  #source(shard: EngineShard, requested: CandidateSource | 'auto', nq: number): CandidateSource {
    if (requested !== 'auto') return requested;
    if (nq < SINGLE_QUERY_BATCH && shard.hnsw) return shard.store.nDocs < DEFAULT_SINGLE_SCAN_BELOW ? 'bruteforce' : 'hnsw';
    if (shard.store.nDocs < this.#flatBelow) return 'bruteforce';
    return shard.hnsw ? 'hnsw' : 'bruteforce';
  }

  /**
   * Top-k documents per query by exact MaxSim among each shard's top-k' inner-product candidates:
   * features, candidates, the global top k', rerank, merge (the steps a shard-group router runs
   * across processes, src/serve/router.ts).
   * @param queries sum(queryCounts) × dim token vectors
   * @throws InvalidArgumentError (k ≤ 0, kPrime < k, a candidate source the shard lacks)
   */
  async search(queries: Float32Array, queryCounts: Int32Array, options: EngineSearchOptions = {}): Promise<EngineResult> {
    const { k, kPrime } = checkSearchOptions(options);
    const t0 = performance.now();
    const F = await this.features(queries, queryCounts, options);
    const picked = topCandidates(await this.candidates(F, queryCounts.length, options), kPrime);
    const result = this.result(await this.rerank(queries, queryCounts, picked, k, options), k);
    metrics.queries.inc(queryCounts.length);
    metrics.searchSeconds.observe({ batch: queryCounts.length === 1 ? 'single' : 'batch' }, (performance.now() - t0) / 1000);
    return result;
  }

  /** Query features Σψ(q)/32, nq × hidden. */
  features(queries: Float32Array, queryCounts: Int32Array, options: { threads?: number } = {}): Promise<Float32Array> {
    return this.#model.features(queries, queryCounts, { threads: options.threads ?? config().threads });
  }

  /**
   * Every shard's top k' by inner product with the features F (nq × hidden), tombstoned documents
   * dropped; per query, unordered. W rows of one model are on one scale, so shards' scores compare.
   */
  async candidates(F: Float32Array, nq: number, options: EngineSearchOptions = {}): Promise<Hit[][]> {
    const { kPrime } = checkSearchOptions(options);
    const threads = options.threads ?? config().threads;
    const hidden = this.#model.hidden;
    if (F.length !== nq * hidden) throw new InvalidArgumentError(`Expected ${nq} × ${hidden} features but received ${F.length} floats`);
    const cands: Hit[][] = Array.from({ length: nq }, () => []);
    for (const [si, shard] of this.#shards.entries()) {
      const n = shard.store.nDocs;
      if (n - this.#deletedCount[si]! <= 0) continue;
      const kp = Math.min(n, kPrime + this.#deletedCount[si]!); // room for candidates we drop
      const source = this.#source(shard, options.candidates ?? 'auto', nq);
      let r: SearchResult;
      if (source === 'bruteforce') {
        // the rows in memory, else the same rows as the index stores them (one copy of W)
        r = shard.W ? await innerProductTopK(F, shard.W, hidden, kp, { threads }) : await shard.hnsw!.scan(F, kp, { threads });
      } else {
        const ix = shard[source];
        if (!ix) throw new InvalidArgumentError(`shard ${this.#ordinals[si]} has no ${source} index`);
        r = await ix.search(F, kp, { efSearch: Math.max(options.efSearch ?? 2 * kPrime, kp), threads });
      }
      const del = this.#deleted[si]!;
      const ordinal = this.#ordinals[si]!;
      for (let q = 0; q < nq; q++) {
        for (let i = q * kp; i < (q + 1) * kp; i++) {
          const pos = r.labels[i]!;
          if (pos >= 0n && !del[Number(pos)]) cands[q]!.push({ score: r.distances[i]!, shard: ordinal, pos: Number(pos) });
        }
      }
    }
    return cands;
  }

  /**
   * Exact MaxSim of each query's picked candidates (shards by ordinal; scores ignored), one call
   * per shard; per query and shard its top k, exact scores.
   * @throws InvalidArgumentError for a shard this engine does not hold or a position outside it
   */
  async rerank(queries: Float32Array, queryCounts: Int32Array, picks: Hit[][], k: number, options: { threads?: number } = {}): Promise<Hit[][]> {
    const nq = queryCounts.length;
    if (picks.length !== nq) throw new InvalidArgumentError(`Expected picks for ${nq} queries but received ${picks.length}`);
    const threads = options.threads ?? config().threads;
    // picked[shard][query] = the positions of that shard among the query's picks
    const picked = this.#shards.map(() => Array.from({ length: nq }, (): number[] => []));
    picks.forEach((c, q) => {
      for (const h of c) {
        const si = this.#local.get(h.shard);
        if (si === undefined) throw new InvalidArgumentError(`shard ${h.shard} is not held here (shards ${this.#ordinals.join(', ')})`);
        if (!Number.isInteger(h.pos) || h.pos < 0 || h.pos >= this.#shards[si]!.store.nDocs) throw new InvalidArgumentError(`shard ${h.shard}: position ${h.pos} outside 0..${this.#shards[si]!.store.nDocs - 1}`);
        picked[si]![q]!.push(h.pos);
      }
    });
    const hits: Hit[][] = Array.from({ length: nq }, () => []);
    for (const [si, shard] of this.#shards.entries()) {
      const width = picked[si]!.reduce((w, p) => Math.max(w, p.length), 0);
      if (width === 0) continue;
      const labels = new BigInt64Array(nq * width).fill(-1n);
      picked[si]!.forEach((p, q) => p.forEach((pos, j) => (labels[q * width + j] = BigInt(pos))));
      collect(hits, this.#ordinals[si]!, await maxsimRerank(queries, queryCounts, shard.store, labels, Math.min(k, width), { threads }));
    }
    return hits;
  }

  /** The external id of a hit of this engine's shards. */
  idOf(h: Hit): DocId {
    return this.#shards[this.#local.get(h.shard)!]!.ids[h.pos]!;
  }

  /** Each query's top k of exact hits, with external ids. */
  result(hits: Hit[][], k: number): EngineResult {
    return mergeHits(hits, k, (h) => this.idOf(h));
  }

  /**
   * The exact top-k by MaxSim over every live document (exhaustive: ground truth for recall).
   * @param queries sum(queryCounts) × dim token vectors
   */
  async exact(queries: Float32Array, queryCounts: Int32Array, options: { k?: number; threads?: number } = {}): Promise<EngineResult> {
    const k = options.k ?? 10;
    if (!Number.isInteger(k) || k < 1) throw new InvalidArgumentError(`Expected integer k >= 1 but received ${k}`);
    const threads = options.threads ?? config().threads;
    const hits: Hit[][] = Array.from({ length: queryCounts.length }, () => []);
    for (const [si, shard] of this.#shards.entries()) {
      const n = shard.store.nDocs;
      const dead = this.#deletedCount[si]!;
      if (n - dead <= 0) continue;
      const r = await maxsimExactTopK(queries, queryCounts, shard.store, Math.min(n, k + dead), { threads });
      const del = this.#deleted[si]!;
      if (dead > 0) for (let i = 0; i < r.labels.length; i++) if (r.labels[i]! >= 0n && del[Number(r.labels[i]!)]) r.labels[i] = -1n;
      collect(hits, this.#ordinals[si]!, r);
    }
    return this.result(hits, k);
  }

  /** Frees the indexes this engine built (QueryEngine.build); idempotent. Nothing it was given. */
  close(): void {
    for (const ix of this.#owned) ix.close();
    this.#owned = [];
  }
}

/** k and k' of a search, checked. */
export function checkSearchOptions(options: EngineSearchOptions): { k: number; kPrime: number } {
  const k = options.k ?? 10;
  const kPrime = options.kPrime ?? 100;
  if (!Number.isInteger(k) || k < 1) throw new InvalidArgumentError(`Expected integer k >= 1 but received ${k}`);
  if (!Number.isInteger(kPrime) || kPrime < k) throw new InvalidArgumentError(`Expected integer kPrime >= k = ${k} but received ${kPrime}`);
  return { k, kPrime };
}
