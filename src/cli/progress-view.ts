/**
 * How a build's progress is shown while the CLI waits for it. On a terminal: one bar per stage
 * (load, targets, train, weights, index, publish) with done/total, rate and ETA, redrawn in place
 * by cli-progress; log lines that must be seen are printed above the bars. Not a terminal (CI,
 * pipes): no bars, one progress line every few seconds through the logger.
 */
import cliProgress from 'cli-progress';

import { log } from '../log.js';
import type { BuildProgress, StageProgress } from '../queue/build-progress.js';
import { progressLine } from '../queue/build-progress.js';

export interface ProgressView {
  update(p: BuildProgress): void;
  /** Prints text above the bars (or to stderr when there are none). */
  print(text: string): void;
  stop(): void;
}

interface BarState {
  bar: cliProgress.SingleBar;
  /** When the stage first moved, and its done count then (rate and ETA count from here). */
  startedAt?: number;
  startDone?: number;
  finishedAt?: number;
}

function fmtCount(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e4 ? `${(n / 1e3).toFixed(1)}k` : String(Math.round(n));
}

function fmtSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * The payload cli-progress substitutes into the format for one stage, sized to fit 80 columns:
 * the train stage counts epochs and shows the loss, the others count their units with a rate.
 */
function payload(s: StageProgress, st: BarState, now: number): Record<string, string> {
  const epoch = s.stage === 'train' ? /epoch (\d+\/\d+)/.exec(s.detail ?? '')?.[1] : undefined;
  const counts = s.stage === 'publish' ? '' : epoch ? `epoch ${epoch}` : `${fmtCount(s.done)}/${fmtCount(s.total)} ${s.unit}`;
  const detail = s.stage === 'train' ? (/loss \S+/.exec(s.detail ?? '')?.[0] ?? '') : (s.detail ?? '');
  let rate = '';
  let eta = '';
  if (s.state === 'done' && st.startedAt !== undefined) {
    eta = `done in ${fmtSeconds(((st.finishedAt ?? now) - st.startedAt) / 1000)}`;
  } else if (s.state === 'failed') {
    eta = 'failed';
  } else if (st.startedAt !== undefined && s.done > (st.startDone ?? 0)) {
    const secs = (now - st.startedAt) / 1000;
    const perS = (s.done - (st.startDone ?? 0)) / Math.max(secs, 1e-3);
    if (s.stage !== 'train') rate = `${perS >= 10 ? fmtCount(perS) : perS.toFixed(1)}/s`;
    eta = `ETA ${fmtSeconds((s.total - s.done) / perS)}`;
  } else if (s.state === 'active') {
    eta = 'running';
  }
  return { stage: s.stage.padEnd(7), counts: counts.padEnd(20), speed: rate.padEnd(7), when: eta.padEnd(12), detail };
}

export function openProgressView(o: { tty: boolean; stream?: NodeJS.WriteStream; lineEveryMs?: number }): ProgressView {
  if (!o.tty) {
    // pipes and CI: a line when something changed, at most every few seconds
    let last = '';
    let at = 0;
    const every = o.lineEveryMs ?? 5000;
    return {
      update(p) {
        const line = progressLine(p);
        if (line !== last && Date.now() - at >= every) {
          log.info(line);
          at = Date.now();
          last = line;
        }
      },
      print: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
      stop: () => undefined,
    };
  }
  const multi = new cliProgress.MultiBar(
    {
      // {eta} and friends are cli-progress's own tokens: ours are named so they do not collide
      format: ' {stage} {bar} {counts} {speed} {when} {detail}',
      barsize: 16,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      autopadding: false,
      fps: 8,
      stream: o.stream ?? process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, BarState>();
  return {
    update(p) {
      const now = Date.now();
      for (const s of p.stages) {
        let st = bars.get(s.stage);
        // a bar's scale: its units, or 1/1 for a stage with no count yet (waiting, publish)
        const total = Math.max(s.total, 1);
        if (!st) {
          st = { bar: multi.create(total, 0, payload(s, {} as BarState, now)) };
          bars.set(s.stage, st);
        }
        if (st.startedAt === undefined && (s.state === 'active' || s.state === 'done')) {
          st.startedAt = now;
          st.startDone = s.done;
        }
        if (s.state === 'done' && st.finishedAt === undefined) st.finishedAt = now;
        st.bar.setTotal(total);
        st.bar.update(s.state === 'done' ? total : Math.min(s.done, total), payload(s, st, now));
      }
    },
    print: (text) => multi.log(text.endsWith('\n') ? text : `${text}\n`),
    stop: () => multi.stop(),
  };
}
