/** A private local scratch folder for a stage's temporary files, removed by cleanup(). */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function makeScratchDir(prefix = 'lemur-scratch-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A log file in the machine's scratch folder (the folder is created; the file is appended to). */
export function scratchLogFile(name: string): string {
  const dir = join(tmpdir(), 'lemur-logs');
  mkdirSync(dir, { recursive: true });
  return join(dir, name.replace(/[^A-Za-z0-9_.-]/g, '_'));
}
