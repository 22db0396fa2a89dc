/**
 * A router's view of its shard groups: which processes serve group i of n and which versions each
 * holds. Members come from a static list of URLs or from the Redis registry (src/serve/
 * group-registry.ts); either way every member is asked GET /v1/version on each refresh, so the
 * router knows its group and what it has loaded now, not a heartbeat ago. That is what lets the
 * router move to a version only once every group holds it.
 *
 * Calls go to one replica of a group, round robin over those that hold the version, failing over
 * to the next on error; a replica that fails is skipped until a refresh finds it answering again.
 */
import { log } from '../log.js';
import { callGroup, GroupCallError, type GroupCallOptions } from './group-client.js';
import type { GroupRegistryReader } from './group-registry.js';
import type { ShardGroup } from './shard-group.js';
import { GroupUnavailableError, GroupVersionMissingError } from './serve-errors.js';
import type { VersionInfo } from './version-info.js';

export interface Replica {
  url: string;
  group: ShardGroup;
  version: string | null;
  loaded: string[];
  /** Failed its last call or refresh: not used until a refresh finds it answering. */
  down: boolean;
}

export type GroupSource = { urls: string[] } | { registry: GroupRegistryReader };

export interface GroupDirectoryOptions extends GroupCallOptions {
  /** Between refreshes. @defaultValue 1000 */
  refreshMs?: number;
}

/**
 * The n to serve with when members disagree (a re-sharding under way): a complete set of groups
 * first, then the one with more members, then the larger n.
 */
function chooseCount(members: Replica[]): number | undefined {
  const byCount = new Map<number, Replica[]>();
  for (const m of members) byCount.set(m.group.count, [...(byCount.get(m.group.count) ?? []), m]);
  const score = (n: number): [number, number, number] => {
    const ms = byCount.get(n)!;
    return [Number(new Set(ms.map((m) => m.group.index)).size === n), ms.length, n];
  };
  const counts = [...byCount.keys()].sort((a, b) => {
    const [x, y] = [score(a), score(b)];
    return y[0] - x[0] || y[1] - x[1] || y[2] - x[2];
  });
  if (counts.length > 1) log.warn('shard groups of different counts are registered; routing to one set', { counts, using: counts[0] });
  return counts[0];
}

export class GroupDirectory {
  readonly #source: GroupSource;
  readonly #o: GroupDirectoryOptions;
  #members: Replica[] = [];
  #count: number | undefined;
  readonly #next = new Map<number, number>();
  #refreshing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(source: GroupSource, options: GroupDirectoryOptions) {
    this.#source = source;
    this.#o = options;
  }

  /** Groups the version is split into (undefined until a member answered). */
  get count(): number | undefined {
    return this.#count;
  }

  async start(): Promise<void> {
    await this.refresh();
    this.#timer = setInterval(() => void this.refresh(), this.#o.refreshMs ?? 1000);
    this.#timer.unref();
  }

  /** Re-reads the members and asks each what it holds; concurrent calls share one pass. */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#refresh().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  async #refresh(): Promise<void> {
    let urls: string[];
    if ('urls' in this.#source) {
      urls = this.#source.urls;
    } else {
      try {
        urls = [...new Set((await this.#source.registry.list()).map((r) => r.url))];
      } catch (err) {
        log.warn('cannot read the shard-group registry; keeping the members known', { error: (err as Error).message });
        urls = this.#members.map((m) => m.url);
      }
    }
    const members = await Promise.all(
      urls.map(async (url): Promise<Replica | undefined> => {
        try {
          const v = await callGroup<VersionInfo>(url, '/v1/version', undefined, this.#o);
          if (!v.group) {
            log.warn('a routed member serves whole versions, not a shard group: ignored', { url });
            return undefined;
          }
          return { url, group: v.group, version: v.version, loaded: v.loaded, down: false };
        } catch {
          const before = this.#members.find((m) => m.url === url);
          return before ? { ...before, down: true } : undefined;
        }
      }),
    );
    this.#members = members.filter((m): m is Replica => m !== undefined);
    this.#count = chooseCount(this.#members.filter((m) => !m.down)) ?? this.#count;
  }

  /** The live replicas of group i (of the chosen n). */
  replicas(index: number): Replica[] {
    return this.#members.filter((m) => m.group.count === this.#count && m.group.index === index && !m.down);
  }

  /** Groups with no live replica holding `version` (every group while n is unknown: [-1]). */
  missing(version: string): number[] {
    if (this.#count === undefined) return [-1];
    const out: number[] = [];
    for (let i = 0; i < this.#count; i++) if (!this.replicas(i).some((r) => r.loaded.includes(version))) out.push(i);
    return out;
  }

  /** Every member as last seen (GET /v1/version of a router). */
  members(): Replica[] {
    return this.#members.map((m) => ({ ...m }));
  }

  /**
   * POSTs to one replica of group `index` holding `version`, failing over to the others.
   * @throws GroupVersionMissingError when every replica tried refused the version; GroupUnavailableError otherwise
   */
  async call<T>(index: number, version: string, path: string, body: unknown): Promise<T> {
    const live = this.replicas(index);
    const holding = live.filter((r) => r.loaded.includes(version));
    // the others last: their state may be a refresh old
    const order = [...holding, ...live.filter((r) => !r.loaded.includes(version))];
    const n = this.#count ?? 0;
    if (order.length === 0) throw new GroupUnavailableError(`shard group ${index} of ${n} has no live instance`, [index]);
    const start = this.#next.get(index) ?? 0;
    this.#next.set(index, start + 1);
    const errors: GroupCallError[] = [];
    for (let i = 0; i < order.length; i++) {
      const r = i < holding.length ? holding[(start + i) % holding.length]! : order[i]!;
      try {
        return await callGroup<T>(r.url, path, body, this.#o);
      } catch (err) {
        if (!(err instanceof GroupCallError)) throw err;
        errors.push(err);
        if (err.kind === 'version') r.loaded = r.loaded.filter((v) => v !== version);
        else if (err.kind === 'unavailable') r.down = true;
      }
    }
    const detail = errors.map((e) => e.message).join('; ');
    if (errors.every((e) => e.kind === 'version')) throw new GroupVersionMissingError(version, [index], detail);
    throw new GroupUnavailableError(`shard group ${index} of ${n} did not answer: ${detail}`, [index]);
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    if ('registry' in this.#source) this.#source.registry.close();
  }
}
