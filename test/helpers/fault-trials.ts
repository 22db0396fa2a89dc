/**
 * Fault trials, shared by test/faults and `npm run bench -- faults`. One trial = an operation
 * (build, ingest, delete, compact, eval) × a fault × a seed, run by two real `lemur worker`
 * processes (every role) on a real redis-server with AOF and an s3rver behind the S3 fault proxy:
 * - `worker-kill`: the process running a job of a seeded role is SIGKILLed a seeded time into
 *   that job (up to 1.2× the longest such job of the clean run); a replacement starts at once,
 *   as a supervisor would start one;
 * - `redis-kill`: redis-server is SIGKILLed at a seeded point of the clean run's duration and
 *   restarted from its AOF on the same port after a seeded 0.3–1.2 s;
 * - `s3`: a seeded 5–20 % of the workers' S3 requests fail (500, 503 SlowDown, resets,
 *   truncated bodies, 0.5 s stalls) throughout;
 * - `worker-kill+s3`: both;
 * - `redis-net`: the workers reach Redis through a TCP fault proxy which, at a seeded point, drops
 *   every connection, stalls every byte, or partitions (drops and refuses new connections) for a
 *   seeded 0.3–2.5 s — shorter than the job lock: a longer cut is a lost lock, and BullMQ hands
 *   the job to another worker (at-least-once; the processors are idempotent, see worker-kill).
 * Each trial works on its own copy of one template store (a fresh key prefix) and its own Redis,
 * and is compared with a clean run of the same operation (same template, no fault): builds,
 * ingests, deletes and compactions are deterministic (docs/determinism.md), and so are an
 * evaluation's result rows. The invariants (trial-invariants.ts) are checked after every trial,
 * `current` also while it runs.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { Queue } from 'bullmq';

import { generateCorpus, type Corpus } from '../../src/data/synthetic-corpus.js';
import { submitBuild } from '../../src/queue/build-flow.js';
import { redisConnection, withQueue, type QueueTarget } from '../../src/queue/connection.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/queue/embedded-redis.js';
import { JOB_RETRY, JOBS, QUEUES, jobIds } from '../../src/queue/queues.js';
import { keys } from '../../src/store/keys.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { S3Store } from '../../src/store/s3-store.js';
import { Random } from '../../src/data/random.js';
import { putCorpusShard } from './corpus-shards.js';
import { S3FaultProxy } from './s3-fault-proxy.js';
import { TcpFaultProxy } from './tcp-fault-proxy.js';
import { startS3, type S3Server } from './s3.js';
import { makeTmpDir } from './tmp-dir.js';
import { CurrentWatch, ranTwice, unfinishedJobs, unverifiableVersions } from './trial-invariants.js';
import { DIM, FIT, OPERATION_SPECS, ROLE_QUEUES, type Final, type KillableRole, type Operation, type OperationSpec } from './trial-ops.js';
import { WorkerPool, type WorkerProc } from './worker-procs.js';

export { OPERATIONS, type Operation } from './trial-ops.js';

export type FaultKind = 'worker-kill' | 'redis-kill' | 's3' | 'worker-kill+s3' | 'redis-net';
export const FAULT_KINDS: readonly FaultKind[] = ['worker-kill', 'redis-kill', 's3', 'worker-kill+s3', 'redis-net'];

/** What the Redis link suffers in a `redis-net` trial. */
export type NetFault = 'drop' | 'stall' | 'partition';
const NET_FAULTS: readonly NetFault[] = ['drop', 'stall', 'partition'];

export interface TrialSpec {
  operation: Operation;
  fault: FaultKind;
  seed: number;
}

/** What was actually done to the trial (a kill planned after the flow ended is not done). */
export interface Injected {
  killedRole?: KillableRole;
  /** The job of that role the killed process was running when it was chosen. */
  killedJob?: string;
  /** The job was still in flight when the process died (else the kill hit it just after). */
  killedInFlight?: boolean;
  killDelayMs?: number;
  redisDownMs?: number;
  /** What the workers' Redis link suffered (redis-net), and for how long (stall, partition). */
  redisNet?: NetFault;
  redisNetMs?: number;
  s3Rate?: number;
  s3Faults?: number;
  /** No fault reached the flow (it had ended first). */
  none?: boolean;
}

export interface TrialResult extends TrialSpec {
  outcome: 'published' | 'refused';
  /** The failed root job's failedReason, when refused. */
  cause?: string;
  held: boolean;
  violations: string[];
  injected: Injected;
  /** From the kill (or Redis kill; the start for S3 faults alone) to the flow's end; undefined when the fault came after the end. */
  recoveryMs?: number;
  wallMs: number;
  cleanMs: number;
  /** How often `current` was verified while the trial ran. */
  currentChecks: number;
}

interface CleanRun {
  output: Record<string, string>;
  /** The root job's return value. */
  result: unknown;
  wallMs: number;
  /** Longest job per queue, ms (where a kill lands). */
  longestJobMs: Record<string, number>;
}

/** Locks short enough that a killed worker's job is taken over within seconds, long enough to outlive a Redis restart. */
const LOCK_MS = 4000;
const FLOW_DEADLINE_MS = 150_000;
const SETTLE_DEADLINE_MS = 30_000;
const BUCKET = 'lemur-faults';

interface SessionPlan {
  seed: number;
  s3Rate: number;
  kill?: { role: KillableRole; fraction: number };
  redis?: { at: number; downMs: number };
  net?: { at: number; mode: NetFault; ms: number };
}

interface SessionResult {
  final: Final | undefined;
  wallMs: number;
  faultAt: number | undefined;
  injected: Injected;
  violations: string[];
  currentChecks: number;
  pool: WorkerPool;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class FaultLab {
  readonly corpus: Corpus;
  readonly clean = new Map<Operation, CleanRun>();
  readonly #s3: S3Server;
  readonly #tmp = makeTmpDir('lemur-faults-');
  #n = 0;

  private constructor(s3: S3Server) {
    this.#s3 = s3;
    this.corpus = generateCorpus({ docs: 900, queries: 200, dim: DIM, seed: 11, minTokens: 8, maxTokens: 32, queryTokens: 4 });
  }

  /** s3rver, the template store (v1, v2 and a shard to ingest), and a clean run of each operation given. */
  static async start(operations: readonly Operation[]): Promise<FaultLab> {
    const lab = new FaultLab(await startS3(BUCKET));
    try {
      await lab.#makeTemplate();
      for (const op of operations) await lab.#cleanRun(op);
    } catch (err) {
      await lab.close();
      throw err;
    }
    return lab;
  }

  store(prefix: string): S3Store {
    return new S3Store({ bucket: BUCKET, prefix, endpoint: this.#s3.endpoint, forcePathStyle: true });
  }

  async #makeTemplate(): Promise<void> {
    const t = this.store('template');
    try {
      await putCorpusShard(t, 'sources/a.parquet', this.corpus, 0, 300);
      await putCorpusShard(t, 'sources/b.parquet', this.corpus, 300, 600);
      await putCorpusShard(t, 'incoming/c.parquet', this.corpus, 600, 900);
    } finally {
      t.destroy();
    }
    const v1 = { ...OPERATION_SPECS.build, submit: submitTemplateBuild, final: templateFinal(QUEUES.publish, jobIds.publish('v1')) };
    const v2 = { ...OPERATION_SPECS.delete, submit: submitTemplateDelete, final: templateFinal(QUEUES.publish, 'v2.delete') };
    for (const spec of [v1, v2]) {
      const r = await this.#session(spec, 'template', { seed: 0, s3Rate: 0 }, undefined);
      if (r.final?.state !== 'completed' || r.violations.length) throw new Error(`fault trials: the template failed: ${r.final?.reason ?? ''} ${r.violations.join('; ')}`);
    }
  }

  async #cleanRun(op: Operation): Promise<void> {
    const prefix = `clean-${op}`;
    await this.#copyTemplate(prefix);
    const r = await this.#session(OPERATION_SPECS[op], prefix, { seed: 0, s3Rate: 0 }, undefined);
    const store = this.store(prefix);
    try {
      if (r.final?.state !== 'completed' || r.violations.length) throw new Error(`fault trials: the clean ${op} failed: ${r.final?.reason ?? ''} ${r.violations.join('; ')}`);
      const longestJobMs = Object.fromEntries(Object.values(ROLE_QUEUES).map((q) => [q, r.pool.longestJobMs(q)]));
      this.clean.set(op, { output: await OPERATION_SPECS[op].output(store), result: r.final.result, wallMs: r.wallMs, longestJobMs });
      await removePrefix(store);
    } finally {
      store.destroy();
    }
  }

  /** One trial; never throws for what the faults do (that is its result), only for a broken lab. */
  async trial(spec: TrialSpec): Promise<TrialResult> {
    const clean = this.clean.get(spec.operation);
    if (!clean) throw new Error(`fault trials: no clean run of ${spec.operation} (start the lab with it)`);
    const opSpec = OPERATION_SPECS[spec.operation];
    const rng = new Random(spec.seed * 7919 + FAULT_KINDS.indexOf(spec.fault));
    // every draw is made up front, so a trial's faults depend on its seed alone
    const role = opSpec.roles[rng.int(opSpec.roles.length)]!;
    const killFraction = rng.next();
    const redisAt = 0.1 + 0.8 * rng.next();
    const redisDown = 300 + 900 * rng.next();
    const s3Rate = 0.05 + 0.15 * rng.next();
    const netMode = NET_FAULTS[rng.int(NET_FAULTS.length)]!;
    const netMs = 300 + 2200 * rng.next();
    const plan: SessionPlan = {
      seed: spec.seed,
      s3Rate: spec.fault === 's3' || spec.fault === 'worker-kill+s3' ? s3Rate : 0,
      ...(spec.fault.startsWith('worker-kill') ? { kill: { role, fraction: killFraction } } : {}),
      ...(spec.fault === 'redis-kill' ? { redis: { at: redisAt * clean.wallMs, downMs: redisDown } } : {}),
      ...(spec.fault === 'redis-net' ? { net: { at: redisAt * clean.wallMs, mode: netMode, ms: netMs } } : {}),
    };
    const prefix = `t${++this.#n}-${spec.operation}-${spec.fault}-${spec.seed}`;
    await this.#copyTemplate(prefix);
    const r = await this.#session(opSpec, prefix, plan, clean);
    const store = this.store(prefix);
    try {
      const violations = [...r.violations];
      const published = await opSpec.published(store);
      if (r.final?.state === 'completed') {
        if (!published) violations.push('the flow completed but nothing was published');
        else {
          const out = await opSpec.output(store);
          const diff = differences(clean.output, out);
          if (diff.length) violations.push(`output differs from the clean run's: ${diff.slice(0, 4).join('; ')}`);
        }
        // what the user is told (deleted, added, compacted counts) must not depend on retries either
        if (opSpec.sameResult && JSON.stringify(r.final.result) !== JSON.stringify(clean.result)) violations.push(`returned ${JSON.stringify(r.final.result)}, the clean run ${JSON.stringify(clean.result)}`);
      } else if (r.final?.state === 'failed') {
        if (published) violations.push(`published although its job failed (${r.final.reason})`);
        if (!r.final.reason || r.final.reason === '(no failedReason)') violations.push('refused without a cause');
      }
      violations.push(...(await unverifiableVersions(store)).map((v) => `unverifiable version ${v}`));
      violations.push(...ranTwice(r.pool.completions()).map((j) => `processor ran to completion twice: ${j}`));
      await removePrefix(store);
      return {
        ...spec,
        outcome: r.final?.state === 'completed' ? 'published' : 'refused',
        ...(r.final?.state === 'failed' ? { cause: r.final.reason } : {}),
        held: violations.length === 0,
        violations,
        injected: r.injected,
        // a kill that landed after the flow had ended recovered nothing
        ...(r.faultAt !== undefined && r.faultAt <= r.wallMs ? { recoveryMs: Math.round(r.wallMs - r.faultAt) } : {}),
        wallMs: Math.round(r.wallMs),
        cleanMs: Math.round(clean.wallMs),
        currentChecks: r.currentChecks,
      };
    } finally {
      store.destroy();
    }
  }

  /**
   * Runs one operation on `prefix` with the plan's faults: returns once the flow has ended and
   * every job of it is completed or failed (or the deadlines passed: violations), and its
   * workers and Redis are stopped (the pool's logs stay readable).
   */
  async #session(spec: Pick<OperationSpec, 'roles' | 'submit' | 'final'>, prefix: string, plan: SessionPlan, clean: CleanRun | undefined): Promise<SessionResult> {
    const dir = join(this.#tmp.dir, prefix);
    const redisDir = join(dir, 'redis');
    mkdirSync(redisDir, { recursive: true });
    let redis: EmbeddedRedis = await startEmbeddedRedis({ dir: redisDir, persist: true });
    const proxy = await S3FaultProxy.start({ target: this.#s3.endpoint, seed: plan.seed, rate: plan.s3Rate, stallMs: 500 });
    // the workers' Redis link, through a TCP fault proxy when the trial cuts it (the lab's own queues go direct)
    const link = plan.net ? await TcpFaultProxy.start({ port: redis.port }) : undefined;
    const pool = new WorkerPool(
      {
        LEMUR_STORE: `s3://${BUCKET}/${prefix}`,
        LEMUR_S3_ENDPOINT: proxy.url,
        LEMUR_S3_FORCE_PATH_STYLE: 'true',
        REDIS_URL: link?.url ?? redis.url,
        LEMUR_THREADS: '1',
        LEMUR_CACHE_DIR: join(dir, 'cache'),
      },
      ['--lock-duration', String(LOCK_MS), '--grace', '3'],
    );
    pool.spawn();
    pool.spawn();
    const queues = Object.fromEntries(Object.values(QUEUES).map((name) => [name, new Queue(name, { connection: redisConnection(redis.url) })]));
    const store = this.store(prefix);
    const watch = prefix === 'template' ? undefined : new CurrentWatch(store);
    const violations: string[] = [];
    const injected: Injected = plan.s3Rate > 0 ? { s3Rate: Number(plan.s3Rate.toFixed(3)) } : {};
    // recovery is measured from the discrete fault (a kill) when there is one, else from the start (S3 faults run throughout)
    let faultAt: number | undefined = plan.s3Rate > 0 && !plan.kill ? 0 : undefined;
    let final: Final | undefined;
    const t0 = performance.now();
    const since = (): number => performance.now() - t0;
    try {
      await spec.submit({ redisUrl: redis.url }, store, this.corpus);
      let ended = false;
      const faults = (async () => {
        if (plan.kill && clean) {
          const queue = ROLE_QUEUES[plan.kill.role];
          const victim = await activeRunner(pool, queues[queue]!, () => ended);
          if (!victim) return;
          const delay = plan.kill.fraction * 1.2 * Math.max(50, clean.longestJobMs[queue] ?? 0);
          await sleep(delay);
          victim.proc.child.kill('SIGKILL');
          await victim.proc.exited;
          faultAt = since();
          // still active with a lock nobody renews: the kill cut the job (stall detection hands it over)
          const inFlight = (await queues[queue]!.getJob(victim.jobId).then((j) => j?.getState()).catch(() => undefined)) === 'active';
          Object.assign(injected, { killedRole: plan.kill.role, killedJob: victim.jobId, killedInFlight: inFlight, killDelayMs: Math.round(delay) });
          pool.spawn();
        }
        if (plan.redis) {
          await sleep(plan.redis.at);
          if (ended) return;
          const port = redis.port;
          process.kill(redis.pid, 'SIGKILL');
          await redis.stop(); // only reaps the dead process
          faultAt = since();
          await sleep(plan.redis.downMs);
          redis = await startEmbeddedRedis({ dir: redisDir, persist: true, port });
          injected.redisDownMs = Math.round(plan.redis.downMs);
        }
        if (plan.net && link) {
          await sleep(plan.net.at);
          if (ended) return;
          faultAt = since();
          if (plan.net.mode === 'drop') link.dropAll();
          else if (plan.net.mode === 'stall') link.stall(true);
          else {
            await link.refuse(true);
            link.dropAll();
          }
          if (plan.net.mode !== 'drop') {
            await sleep(plan.net.ms);
            if (plan.net.mode === 'stall') link.stall(false);
            else await link.refuse(false);
          }
          Object.assign(injected, { redisNet: plan.net.mode, ...(plan.net.mode === 'drop' ? {} : { redisNetMs: Math.round(plan.net.ms) }) });
        }
      })();
      const until = performance.now() + FLOW_DEADLINE_MS;
      while (!(final = await spec.final(queues).catch(() => undefined)) && performance.now() < until) await sleep(100);
      const wallMs = since();
      ended = true;
      await faults;
      if (!final) violations.push(`the flow did not end within ${FLOW_DEADLINE_MS / 1000} s`);
      const settleBy = performance.now() + SETTLE_DEADLINE_MS;
      let left = await unfinishedJobs(Object.values(queues));
      while (left.length && performance.now() < settleBy) {
        await sleep(200);
        left = await unfinishedJobs(Object.values(queues));
      }
      if (left.length) violations.push(`jobs not ended ${SETTLE_DEADLINE_MS / 1000} s after the flow: ${left.join(', ')}`);
      if (watch) {
        await watch.check(store);
        violations.push(...(await watch.stop()).map((p) => `current: ${p}`));
      }
      if (plan.s3Rate > 0) injected.s3Faults = proxy.injected();
      if (injected.killedRole === undefined && injected.redisDownMs === undefined && injected.s3Faults === undefined && injected.redisNet === undefined) injected.none = true;
      return { final, wallMs, faultAt, injected, violations, currentChecks: watch?.checks ?? 0, pool };
    } finally {
      await watch?.stop();
      await Promise.all(Object.values(queues).map((q) => q.close()));
      await proxy.close();
      store.destroy();
      // workers go first, so Redis is still there for their shutdown (their logs stay readable)
      await pool.stop();
      await link?.close();
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }

  async #copyTemplate(prefix: string): Promise<void> {
    const from = this.store('template');
    const to = this.store(prefix);
    try {
      for (const o of await from.list('')) {
        // the template's own deletion request stays with it; an operation writes its own
        if (o.key.startsWith('requests/')) continue;
        await to.put(o.key, await from.get(o.key));
      }
    } finally {
      from.destroy();
      to.destroy();
    }
  }

  async close(): Promise<void> {
    await this.#s3.stop();
    this.#tmp.cleanup();
  }
}

/** Waits for a job of `queue` to be active and its process known; undefined if the flow ends first. */
async function activeRunner(pool: WorkerPool, q: Queue, ended: () => boolean): Promise<{ proc: WorkerProc; jobId: string } | undefined> {
  while (!ended()) {
    const jobs = await q.getJobs(['active']).catch(() => []);
    for (const j of jobs) {
      const proc = pool.runnerOf(q.name, j.id!);
      if (proc) return { proc, jobId: j.id! };
    }
    await sleep(25);
  }
  return undefined;
}

function templateFinal(queue: string, id: string): OperationSpec['final'] {
  return async (qs) => {
    const job = await qs[queue]?.getJob(id);
    const state = await job?.getState();
    return state === 'completed' ? { state } : state === 'failed' ? { state, reason: job!.failedReason } : undefined;
  };
}

async function submitTemplateBuild(t: QueueTarget): Promise<void> {
  await submitBuild(t, { version: 'v1', sources: ['sources/a.parquet', 'sources/b.parquet'], input: { dim: DIM }, fit: FIT });
}

async function submitTemplateDelete(t: QueueTarget, store: ObjectStore): Promise<void> {
  const idsKey = keys.deleteRequest('v2');
  await store.put(idsKey, Buffer.from(JSON.stringify(['doc-3', 'doc-301'])));
  await withQueue(t, QUEUES.publish, (q) => q.add(JOBS.deleteDocs, { version: 'v2', idsKey }, { ...JOB_RETRY, jobId: 'v2.delete' }));
}

function differences(want: Record<string, string>, got: Record<string, string>): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(want), ...Object.keys(got)])) {
    if (want[k] !== got[k]) out.push(`${k}: ${got[k] ?? 'missing'} (clean: ${want[k] ?? 'absent'})`);
  }
  return out;
}

async function removePrefix(store: S3Store): Promise<void> {
  for (const o of await store.list('')) await store.delete(o.key);
}
