/**
 * The evaluation report: per version × setting, QPS (queries over the batched search's wall
 * seconds, summed across workers' batches), recall@k against the ground truth, and
 * one-query-at-a-time latency percentiles; as JSON and as one self-contained HTML page (inline
 * SVG plot of recall against QPS, no scripts, no external resources).
 */
import { escapeHtml } from '../html-escape.js';
import type { ObjectStore } from '../store/object-store.js';
import { readResults } from './eval-stages.js';
import type { EvalBatchResult, EvalPlan, TruthRows } from './plan.js';
import { settingLabel } from './plan.js';

export interface SettingSummary {
  version: string;
  setting: string;
  kPrime: number;
  efSearch: number;
  candidates: string;
  queries: number;
  qps: number;
  /** Mean recall@k over the queries with ground truth; null without any. */
  recall: number | null;
  truthQueries: number;
  latencyMs: { p50: number; p90: number; p99: number; samples: number };
}

export interface EvalReport {
  evalId: string;
  createdAt: string;
  finishedAt: string;
  k: number;
  queries: number;
  versions: string[];
  truth: EvalPlan['truth'];
  settings: SettingSummary[];
  results: string[];
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const round = (x: number, d: number): number => Math.round(x * 10 ** d) / 10 ** d;

/** Truth for one version: given truth applies to every version ('*'), exact truth is per version. */
function truthFor(truth: TruthRows, version: string): Record<string, string[]> | undefined {
  return truth[version] ?? truth['*'];
}

export async function buildReport(store: ObjectStore, plan: EvalPlan, batches: EvalBatchResult[], truth: TruthRows): Promise<EvalReport> {
  // found[version|setting][query] = ids by rank
  const found = new Map<string, Map<number, string[]>>();
  for (const b of batches) {
    for (const r of await readResults(store, b.resultsKey)) {
      const key = `${r.version}|${r.setting}`;
      let m = found.get(key);
      if (!m) found.set(key, (m = new Map()));
      let row = m.get(r.query);
      if (!row) m.set(r.query, (row = []));
      row[r.rank] = r.id;
    }
  }
  const settings: SettingSummary[] = [];
  for (const version of plan.versions) {
    const t = truthFor(truth, version);
    for (const s of plan.settings) {
      const setting = settingLabel(s);
      const timings = batches.flatMap((b) => b.timings.filter((x) => x.version === version && x.setting === setting));
      const nq = timings.reduce((a, x) => a + x.nq, 0);
      const seconds = timings.reduce((a, x) => a + x.seconds, 0);
      const lat = timings.flatMap((x) => x.latenciesMs).sort((a, b) => a - b);
      let hits = 0;
      let truthQueries = 0;
      const rows = found.get(`${version}|${setting}`) ?? new Map<number, string[]>();
      for (const [q, ids] of Object.entries(t ?? {})) {
        const want = new Set(ids.slice(0, plan.k));
        if (want.size === 0) continue;
        truthQueries++;
        const got = rows.get(Number(q)) ?? [];
        let h = 0;
        for (const id of got.slice(0, plan.k)) if (id !== undefined && want.has(id)) h++;
        hits += h / want.size;
      }
      settings.push({
        version,
        setting,
        kPrime: s.kPrime,
        efSearch: s.efSearch,
        candidates: s.candidates,
        queries: nq,
        qps: round(seconds > 0 ? nq / seconds : 0, 1),
        recall: truthQueries > 0 ? round(hits / truthQueries, 4) : null,
        truthQueries,
        latencyMs: { p50: round(percentile(lat, 50), 2), p90: round(percentile(lat, 90), 2), p99: round(percentile(lat, 99), 2), samples: lat.length },
      });
    }
  }
  return {
    evalId: plan.evalId,
    createdAt: plan.createdAt,
    finishedAt: new Date().toISOString(),
    k: plan.k,
    queries: plan.nQueries,
    versions: plan.versions,
    truth: plan.truth,
    settings,
    results: batches.map((b) => b.resultsKey).sort(),
  };
}

const esc = escapeHtml;
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf'];

/** Recall (y) against QPS (x), one series per version, one point per setting. */
function plot(r: EvalReport): string {
  const W = 720;
  const H = 420;
  const m = { l: 64, r: 24, t: 24, b: 52 };
  const pts = r.settings.filter((s) => s.recall !== null);
  if (pts.length === 0) return '<p class="note">No ground truth: recall was not measured, so there is no recall-vs-QPS plot.</p>';
  const xMax = Math.max(...pts.map((s) => s.qps)) * 1.1 || 1;
  const yMin = Math.max(0, Math.floor(Math.min(...pts.map((s) => s.recall!)) * 20) / 20 - 0.05);
  const x = (v: number): number => m.l + (v / xMax) * (W - m.l - m.r);
  const y = (v: number): number => H - m.b - ((v - yMin) / (1 - yMin)) * (H - m.t - m.b);
  const out: string[] = [`<svg id="recall-qps" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="recall@${r.k} against QPS">`];
  out.push(`<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="#fafafa" stroke="#999"/>`);
  for (let i = 0; i <= 5; i++) {
    const yv = yMin + ((1 - yMin) * i) / 5;
    const xv = (xMax * i) / 5;
    out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y(yv)}" y2="${y(yv)}" stroke="#e3e3e3"/>`);
    out.push(`<text x="${m.l - 8}" y="${y(yv) + 4}" text-anchor="end" font-size="12">${yv.toFixed(2)}</text>`);
    out.push(`<text x="${x(xv)}" y="${H - m.b + 18}" text-anchor="middle" font-size="12">${Math.round(xv)}</text>`);
  }
  out.push(`<text x="${(W + m.l) / 2}" y="${H - 10}" text-anchor="middle" font-size="13">queries per second</text>`);
  out.push(`<text transform="translate(16 ${(H - m.b + m.t) / 2}) rotate(-90)" text-anchor="middle" font-size="13">recall@${r.k}</text>`);
  // colour per version, one line per candidate source (dashed for the exhaustive ones), k' at each point
  let legend = 0;
  r.versions.forEach((v, vi) => {
    const c = COLORS[vi % COLORS.length]!;
    for (const source of [...new Set(pts.map((s) => s.candidates))]) {
      const series = pts.filter((s) => s.version === v && s.candidates === source).sort((a, b) => a.qps - b.qps);
      if (series.length === 0) continue;
      const dash = source === 'hnsw' ? '' : ' stroke-dasharray="5 3"';
      if (series.length > 1) out.push(`<polyline fill="none" stroke="${c}" stroke-width="1.5"${dash} points="${series.map((s) => `${x(s.qps)},${y(s.recall!)}`).join(' ')}"/>`);
      for (const s of series) {
        out.push(`<circle class="point" cx="${x(s.qps)}" cy="${y(s.recall!)}" r="5" fill="${c}"><title>${esc(`${v} ${s.setting}: recall ${s.recall} at ${s.qps} QPS`)}</title></circle>`);
        out.push(`<text x="${x(s.qps) + 6}" y="${y(s.recall!) + 16}" font-size="11" fill="${c}">${s.kPrime}</text>`);
      }
      out.push(`<line x1="${m.l + 12}" x2="${m.l + 32}" y1="${m.t + 15 + legend * 18}" y2="${m.t + 15 + legend * 18}" stroke="${c}" stroke-width="2"${dash}/><text x="${m.l + 38}" y="${m.t + 19 + legend * 18}" font-size="12">${esc(`${v} · ${source}`)}</text>`);
      legend++;
    }
  });
  out.push(`<text x="${W - m.r - 4}" y="${m.t + 14}" text-anchor="end" font-size="11" fill="#666">point labels: k'</text>`);
  out.push('</svg>');
  return out.join('\n');
}

export function renderHtml(r: EvalReport): string {
  const rows = r.settings
    .map(
      (s) =>
        `<tr><td>${esc(s.version)}</td><td>${esc(s.setting)}</td><td>${s.queries}</td><td>${s.qps}</td><td>${s.recall ?? '—'}</td><td>${s.truthQueries}</td><td>${s.latencyMs.p50}</td><td>${s.latencyMs.p90}</td><td>${s.latencyMs.p99}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>LEMUR evaluation ${esc(r.evalId)}</title><link rel="icon" href="data:,">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:980px}
table{border-collapse:collapse;margin-top:16px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f0f0f0}td:first-child,td:nth-child(2),th:first-child,th:nth-child(2){text-align:left}.note{color:#666}
</style></head><body>
<h1>LEMUR evaluation <code>${esc(r.evalId)}</code></h1>
<p>${r.queries} queries, k = ${r.k}, versions ${r.versions.map((v) => `<code>${esc(v)}</code>`).join(', ')}; ground truth: ${r.truth === 'exact' ? 'exact MaxSim on a sample' : r.truth === 'given' ? 'given file' : 'none'}. Finished ${esc(r.finishedAt)}.</p>
<p class="note">QPS = queries / wall seconds of batched search, summed over the workers' batches. Latency = single queries, one at a time.</p>
${plot(r)}
<table><thead><tr><th>version</th><th>setting</th><th>queries</th><th>QPS</th><th>recall@${r.k}</th><th>truth queries</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th></tr></thead>
<tbody>
${rows}
</tbody></table>
</body></html>
`;
}
