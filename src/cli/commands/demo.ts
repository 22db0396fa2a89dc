/**
 * `lemur demo`: the main job on embedded defaults. For now (native core stage) it generates a
 * ColBERT-like corpus, writes fp32 and fp16 token stores under the local store folder, computes
 * the exact MaxSim top-10 of every query by brute force, reranks a candidate list per query, and
 * prints one JSON line. The pipeline stage replaces this with the full queue-driven build.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { config } from '../../config.js';
import { Random } from '../../data/random.js';
import { generateCorpus } from '../../data/synthetic-corpus.js';
import { log } from '../../log.js';
import { kernelInfo } from '../../native/cpu.js';
import { maxsimExactTopK, maxsimRerank } from '../../native/maxsim.js';
import { TokenStore } from '../../native/token-store.js';

export interface DemoOptions {
  docs: number;
  queries: number;
  seed: number;
}

export async function runDemo(o: DemoOptions): Promise<Record<string, unknown>> {
  const root = config().store;
  if (root.startsWith('s3://')) throw new Error('the demo writes to a local folder; unset LEMUR_STORE or point it at a folder');
  const dir = resolve(root.replace(/^file:\/\//, ''), 'demo');
  mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  log.info('generating corpus', { docs: o.docs, queries: o.queries, seed: o.seed });
  const c = generateCorpus({ docs: o.docs, queries: o.queries, seed: o.seed });
  const ids = Array.from({ length: o.docs }, (_, i) => `doc-${i}`);
  const p32 = join(dir, 'docs-f32.lts');
  const p16 = join(dir, 'docs-f16.lts');
  await TokenStore.write(p32, { vectors: c.docVectors, counts: c.docCounts, dim: c.dim, ids });
  await TokenStore.write(p16, { vectors: c.docVectors, counts: c.docCounts, dim: c.dim, ids, dtype: 'float16' });
  const s32 = await TokenStore.open(p32);
  const s16 = await TokenStore.open(p16);
  try {
    log.info('token stores written', { dir, docs: s32.nDocs, tokens: s32.nTokens, f32Bytes: s32.fileBytes, f16Bytes: s16.fileBytes });
    const k = 10;
    let t = performance.now();
    const exact = await maxsimExactTopK(c.queryVectors, c.queryCounts, s32, k);
    const exactS = (performance.now() - t) / 1000;
    // Candidates as a first-stage retriever would give them: the true top-10 hidden among 190 random docs.
    const kPrime = 200;
    const rng = new Random(o.seed + 1);
    const cand = new BigInt64Array(o.queries * kPrime);
    for (let q = 0; q < o.queries; q++) {
      for (let i = 0; i < kPrime; i++) cand[q * kPrime + i] = i < k ? exact.labels[q * k + i]! : BigInt(rng.int(o.docs));
    }
    t = performance.now();
    const reranked = await maxsimRerank(c.queryVectors, c.queryCounts, s16, cand, k);
    const rerankS = (performance.now() - t) / 1000;
    let agree = 0;
    let sourceAt1 = 0;
    for (let q = 0; q < o.queries; q++) {
      const want = new Set(exact.row(q).labels);
      for (const l of reranked.row(q).labels) if (want.has(l)) agree++;
      if (exact.row(q).labels[0] === BigInt(c.querySourceDoc[q]!)) sourceAt1++;
    }
    return {
      docs: o.docs,
      queries: o.queries,
      kernel: kernelInfo().kernel,
      exact_qps: Math.round(o.queries / exactS),
      rerank_fp16_qps: Math.round(o.queries / rerankS),
      rerank_fp16_recall_at_10: agree / (o.queries * k),
      source_doc_at_1: sourceAt1 / o.queries,
      total_s: Math.round(performance.now() - t0) / 1000,
      store: dir,
    };
  } finally {
    s32.close();
    s16.close();
  }
}
