/**
 * A command on a pseudo terminal (util-linux `script`), and what a person would see at the end:
 * the raw output replayed through the few cursor controls progress bars use (CR, LF, cursor up,
 * column, erase to end of line).
 */
import { spawnSync } from 'node:child_process';

/** Runs argv under `script` so its stdout and stderr are a terminal; returns the raw bytes as text. */
export function runOnPty(argv: string[], env: NodeJS.ProcessEnv, timeoutMs = 180_000): { status: number | null; raw: string } {
  const quoted = argv.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  // a terminal of a common size: the bars must fit 80 columns
  const r = spawnSync('script', ['-qfec', `stty cols 80 rows 40; ${quoted}`, '/dev/null'], { env, encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, raw: r.stdout };
}

/** The final screen of raw terminal output, one string per line (trailing spaces trimmed). */
export function finalScreen(raw: string): string[] {
  const screen: string[] = [];
  let row = 0;
  let col = 0;
  const put = (ch: string): void => {
    const line = (screen[row] ?? '').padEnd(col);
    screen[row] = line.slice(0, col) + ch + line.slice(col + 1);
    col++;
  };
  for (let i = 0; i < raw.length; i++) {
    const m = /^\x1b\[\??(\d*)([A-Za-z])/.exec(raw.slice(i, i + 12));
    if (m) {
      const n = Number(m[1] || 1);
      if (m[2] === 'A') row = Math.max(0, row - n);
      else if (m[2] === 'G') col = n - 1;
      else if (m[2] === 'K') screen[row] = (screen[row] ?? '').slice(0, col);
      i += m[0].length - 1;
      continue;
    }
    const ch = raw[i]!;
    if (ch === '\r') col = 0;
    else if (ch === '\n') {
      row++;
      col = 0;
    } else if (ch >= ' ') put(ch);
  }
  return Array.from(screen, (l) => (l ?? '').trimEnd());
}
