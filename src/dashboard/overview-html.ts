/** The dashboard's own page, rendered on the server: plain HTML and CSS, no scripts. */
import { escapeHtml } from '../html-escape.js';
import type { Overview } from './overview.js';

const esc = escapeHtml;

function bytes(n: number): string {
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let x = n;
  while (x >= 1000 && i < u.length - 1) {
    x /= 1000;
    i++;
  }
  return `${x.toFixed(i === 0 ? 0 : 1)} ${u[i]}`;
}

const STATE_CLASS: Record<string, string> = { completed: 'ok', failed: 'bad', active: 'run', 'waiting-children': 'wait', waiting: 'wait', delayed: 'wait', missing: 'none' };
const state = (s: string): string => `<span class="st ${STATE_CLASS[s] ?? 'wait'}">${esc(s)}</span>`;

export function renderOverview(o: Overview, refreshSeconds: number): string {
  const versions = o.versions.length
    ? `<table id="versions"><thead><tr><th>version</th><th>operation</th><th>created (UTC)</th><th>docs</th><th>shards</th><th>size</th><th>build time</th><th>last eval recall</th></tr></thead><tbody>
${o.versions
  .map(
    (v) =>
      `<tr${v.current ? ' class="current"' : ''}><td><code>${esc(v.version)}</code>${v.current ? ' <b>current</b>' : ''}</td><td>${esc(v.operation)}</td><td>${esc(v.createdAt.replace('T', ' ').slice(0, 19))}</td><td>${v.docs}</td><td>${v.shards}</td><td>${bytes(v.bytes)}</td><td>${v.buildSeconds !== undefined ? `${v.buildSeconds} s` : '—'}</td><td>${v.recall ? `${v.recall.value} <small>(${esc(v.recall.setting)}, ${esc(v.recall.evalId)})</small>` : '—'}</td></tr>`,
  )
  .join('\n')}
</tbody></table>`
    : '<p class="note">No published version yet.</p>';
  const builds = o.builds.length
    ? o.builds
        .map(
          (b) => `<h3>${b.kind} <code>${esc(b.version)}</code>: ${b.kind === 'build' ? `train ${state(b.train)} · ` : ''}publish ${state(b.publish)}</h3>
<p class="stages">${b.stages.map((s) => `${esc(s.stage)} ${s.stage === 'publish' ? state(s.state) : `${s.done}/${s.total} ${esc(s.unit)}`}${s.detail ? ` <small>${esc(s.detail)}</small>` : ''}`).join(' · ')}</p>${b.failure ? `<p class="reason">${esc(b.failure)}</p>` : ''}
<table class="build"><thead><tr><th>shard</th><th>load</th><th>weights</th><th>index</th><th>error</th></tr></thead><tbody>
${b.shards.map((s) => `<tr><td>${esc(s.source)}</td><td>${state(s.load)}</td><td>${state(s.weights)}</td><td>${state(s.index)}</td><td class="reason">${esc(s.error ?? '')}</td></tr>`).join('\n')}
</tbody></table>`,
        )
        .join('\n')
    : '<p class="note">Nothing in flight.</p>';
  const failures = o.failures.length
    ? `<table id="failures"><thead><tr><th>when (UTC)</th><th>queue</th><th>job</th><th>reason</th></tr></thead><tbody>
${o.failures.map((f) => `<tr><td>${esc(f.at.replace('T', ' ').slice(0, 19))}</td><td>${esc(f.queue)}</td><td><code>${esc(f.jobId)}</code></td><td class="reason">${esc(f.reason)}</td></tr>`).join('\n')}
</tbody></table>`
    : '<p class="note">No failed jobs.</p>';
  const schedules = o.schedules.length
    ? `<table id="schedules"><thead><tr><th>name</th><th>cron</th><th>tz</th><th>source</th><th>next run (UTC)</th><th>last run</th></tr></thead><tbody>
${o.schedules
  .map(
    (s) =>
      `<tr><td>${esc(s.name)}</td><td><code>${esc(s.cron)}</code></td><td>${esc(s.tz)}</td><td>${esc(s.run?.source ?? '(current shards)')}</td><td>${esc(s.next?.replace('T', ' ').slice(0, 19) ?? '—')}</td><td>${s.lastRun ? `${esc(s.lastRun.outcome)} <small>${s.lastRun.error ? `<span class="reason">${esc(s.lastRun.error)}</span>` : `recall ${esc(s.lastRun.recall.candidate)} vs ${esc(s.lastRun.recall.current ?? '—')}`}</small>` : '—'}</td></tr>`,
  )
  .join('\n')}
</tbody></table>`
    : '<p class="note">No schedules (<code>lemur schedule set …</code>).</p>';
  const counts = Object.entries(o.counts)
    .map(([q, c]) => `<tr><td>${esc(q)}</td>${['active', 'waiting', 'waiting-children', 'delayed', 'completed', 'failed'].map((k) => `<td>${c[k] ?? 0}</td>`).join('')}</tr>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lemur dashboard</title><link rel="icon" href="data:,">
${refreshSeconds > 0 ? `<meta http-equiv="refresh" content="${refreshSeconds}">` : ''}
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}
header{background:#1d3557;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:baseline}
header a{color:#fff}main{padding:8px 24px 32px;max-width:1200px}
table{border-collapse:collapse;margin:8px 0 16px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0}tr.current{background:#eef7ee}.note{color:#666}.reason{color:#a00;max-width:640px;word-break:break-word}
.st{padding:0 6px;border-radius:3px;font-size:12px}.ok{background:#d4edda}.bad{background:#f8d7da}.run{background:#cce5ff}.wait{background:#fff3cd}.none{color:#999}
</style></head><body>
<header><b>lemur</b><a href="./">overview</a><a href="queues">queues (Bull Board)</a><span style="margin-left:auto;font-size:12px">current: <code>${esc(o.current ?? '—')}</code> · ${esc(o.at.replace('T', ' ').slice(0, 19))} UTC</span></header>
<main>
<h2>Builds and ingests in flight</h2>
${builds}
<h2>Versions</h2>
${versions}
<h2>Schedules</h2>
${schedules}
<h2>Recent failures</h2>
${failures}
<h2>Queues</h2>
<table id="counts"><thead><tr><th>queue</th><th>active</th><th>waiting</th><th>waiting children</th><th>delayed</th><th>completed</th><th>failed</th></tr></thead><tbody>
${counts}
</tbody></table>
</main></body></html>
`;
}
