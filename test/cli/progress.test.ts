/**
 * `lemur build` as a person sees it: on a terminal (a pseudo terminal through `script`), one bar
 * per stage redrawn in place and worker logs in a file whose path is printed; off a terminal, no
 * escape codes, JSON log lines and a progress line now and then.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { CLI, cliRunner } from '../helpers/cli.js';
import { writeFixture } from '../helpers/parquet-fixtures.js';
import { finalScreen, runOnPty } from '../helpers/terminal.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const tmp = makeTmpDir();
after(tmp.cleanup);
const FIT = ['--epochs', '3', '--m-prime', '256', '--n-learn', '6000', '--hidden', '128'];

before(async () => {
  mkdirSync(join(tmp.dir, 'src'), { recursive: true });
  await writeFixture(join(tmp.dir, 'src/a.parquet'), { rows: 1500, dim: 32, layout: 'nested', codec: 'zstd', rowGroupSize: 500 });
  await writeFixture(join(tmp.dir, 'src/b.parquet'), { rows: 1500, dim: 32, layout: 'flat', codec: 'snappy', rowGroupSize: 500, firstRow: 1500 });
});

describe('build progress', () => {
  it('draws one bar per stage on a terminal and sends worker logs to a file', () => {
    const env: NodeJS.ProcessEnv = { ...process.env, LEMUR_STORE: tmp.dir };
    delete env['REDIS_URL'];
    delete env['LEMUR_LOG_FORMAT'];
    const r = runOnPty([process.execPath, CLI, 'build', 'src/', '--version', 'tty1', ...FIT], env);
    assert.equal(r.status, 0, r.raw);
    assert.match(r.raw, /\x1b\[\d*A/, 'bars are redrawn in place (cursor up)');
    const screen = finalScreen(r.raw).filter(Boolean);
    const logLine = screen.find((l) => l.includes('worker logs in'));
    assert.ok(logLine, screen.join('\n'));
    const logFile = /worker logs in (\S+)/.exec(logLine)![1]!;
    // the final frame: every stage done, in order, each within 80 columns
    const bars = screen.filter((l) => /^ (load|targets|train|weights|index|publish) /.test(l));
    assert.deepEqual(bars.map((l) => l.trim().split(/\s+/)[0]), ['load', 'targets', 'train', 'weights', 'index', 'publish'], screen.join('\n'));
    for (const b of bars) {
      assert.ok(b.length <= 80, `${b.length} columns: ${b}`);
      assert.match(b, /done in \d/, b);
    }
    assert.match(bars[0]!, /2\/2 shards/);
    assert.match(bars[2]!, /epoch 3\/3 .*loss \d/);
    assert.match(bars[3]!, /3000\/3000 docs/);
    assert.match(screen.at(-1)!, /^\{"version":"tty1","shards":2,"docs":3000/);
    // no worker chatter on the terminal; all of it in the file
    assert.doesNotMatch(r.raw, /job started|job done/);
    const logged = readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string });
    assert.ok(logged.filter((l) => l.msg === 'job started').length >= 2 + 1 + 2 + 2 + 1, `${logged.length} lines in ${logFile}`);
  });

  it('prints no bars off a terminal: JSON lines and progress lines', () => {
    const r = cliRunner(tmp.dir)('build', 'src/', '--version', 'pipe1', ...FIT);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /\x1b\[/);
    const lines = r.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string });
    const progress = lines.filter((l) => /^build pipe1: load \d+\/2/.test(l.msg));
    assert.ok(progress.length >= 1, 'at least one progress line');
    assert.ok(lines.some((l) => l.msg === 'job started'), 'worker logs stay on stderr');
  });

  it('--verbose on a terminal shows worker logs instead of bars', () => {
    const env: NodeJS.ProcessEnv = { ...process.env, LEMUR_STORE: tmp.dir };
    delete env['REDIS_URL'];
    delete env['LEMUR_LOG_FORMAT'];
    const r = runOnPty([process.execPath, CLI, 'build', 'src/', '--version', 'tty2', '--verbose', ...FIT], env);
    assert.equal(r.status, 0, r.raw);
    assert.match(r.raw, /job started/);
    assert.doesNotMatch(r.raw, /█/);
  });
});
