/** Repeated timing: warm-up, then the median and spread of several runs. */

export interface Timing {
  median_s: number;
  min_s: number;
  max_s: number;
  runs: number;
}

export async function timeRuns(fn: () => Promise<unknown>, runs = 5, warmup = 1): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await fn();
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    t.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  t.sort((a, b) => a - b);
  return { median_s: t[Math.floor(t.length / 2)]!, min_s: t[0]!, max_s: t[t.length - 1]!, runs };
}

export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
