#!/usr/bin/env node
/** The `lemur` command line: parses flags, runs one command, maps errors to exit codes. */
import { parseArgs } from 'node:util';

import { ConfigError, LemurError } from '../errors.js';
import { log } from '../log.js';
import { runDemo } from './commands/demo.js';

const USAGE = `usage: lemur <command> [options]

commands:
  demo [--docs N] [--queries N] [--seed N]   generate a corpus, fit LEMUR, build the index, run the
                                              queries; prints one JSON line with recall against exact MaxSim

environment: see ../shared/conventions.md (LEMUR_STORE, LEMUR_THREADS, LEMUR_KERNEL, ...)`;

function positiveInt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`Expected --${name} to be a positive integer but received '${v}'`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'demo': {
      const { values } = parseArgs({ args: rest, options: { docs: { type: 'string' }, queries: { type: 'string' }, seed: { type: 'string' } }, strict: true });
      const result = await runDemo({
        docs: positiveInt('docs', values.docs, 4000),
        queries: positiveInt('queries', values.queries, 200),
        seed: positiveInt('seed', values.seed, 7),
      });
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`lemur: unknown command '${command}'\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof LemurError) {
      log.error(err.message, { code: err.code, name: err.name });
    } else if (err instanceof TypeError && /parseArgs|Unknown option|argument/i.test(String(err.message))) {
      process.stderr.write(`lemur: ${err.message}\n${USAGE}\n`);
      process.exit(2);
    } else {
      log.error('unexpected failure', { error: err instanceof Error ? err.stack : String(err) });
    }
    process.exit(1);
  },
);
