/**
 * Memory of a process from /proc/<pid>/status: VmHWM (peak resident set, anonymous and mapped
 * files together), and RssAnon / RssFile now. A sampler polls several processes and keeps the
 * peak RssAnon of each: VmHWM alone cannot tell a heap that grows with the corpus from pages of
 * a memory-mapped token store the kernel may drop at any time.
 */
import { readFileSync } from 'node:fs';

export interface ProcMemory {
  vmHwm: number;
  vmRss: number;
  rssAnon: number;
  rssFile: number;
}

function field(text: string, name: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
  return m ? Number(m[1]) * 1024 : 0;
}

/** The process's memory now, or undefined once it has exited. */
export function procMemory(pid: number | 'self' = 'self'): ProcMemory | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  return { vmHwm: field(text, 'VmHWM'), vmRss: field(text, 'VmRSS'), rssAnon: field(text, 'RssAnon'), rssFile: field(text, 'RssFile') };
}

export interface PeakMemory {
  /** Largest VmHWM seen (bytes). */
  vmHwm: number;
  /** Largest RssAnon seen between polls (bytes). */
  rssAnon: number;
}

/** Polls processes every `ms` and keeps each one's peaks, by name. */
export class MemorySampler {
  readonly #pids = new Map<string, number>();
  readonly #peaks = new Map<string, PeakMemory>();
  readonly #timer: NodeJS.Timeout;

  constructor(ms = 250) {
    this.#timer = setInterval(() => this.poll(), ms);
    this.#timer.unref();
  }

  watch(name: string, pid: number | 'self'): void {
    this.#pids.set(name, pid === 'self' ? process.pid : pid);
  }

  poll(): void {
    for (const [name, pid] of this.#pids) {
      const m = procMemory(pid);
      if (!m) continue;
      const p = this.#peaks.get(name) ?? { vmHwm: 0, rssAnon: 0 };
      this.#peaks.set(name, { vmHwm: Math.max(p.vmHwm, m.vmHwm), rssAnon: Math.max(p.rssAnon, m.rssAnon) });
    }
  }

  peaks(): Record<string, PeakMemory> {
    this.poll();
    return Object.fromEntries(this.#peaks);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

export const GiB = 1024 ** 3;
