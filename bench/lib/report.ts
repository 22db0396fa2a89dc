/** Benchmark output: with --json exactly one JSON object on stdout; progress goes to stderr. */
import { parseArgs } from 'node:util';

export interface BenchArgs {
  data: string | undefined;
  json: boolean;
  quick: boolean;
}

export function benchArgs(argv = process.argv.slice(2)): BenchArgs {
  const { values } = parseArgs({
    args: argv,
    options: { data: { type: 'string' }, json: { type: 'boolean', default: false }, quick: { type: 'boolean', default: false } },
    strict: true,
  });
  return { data: values.data, json: values.json ?? false, quick: values.quick ?? false };
}

export function progress(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

export function emit(result: Record<string, unknown>, json: boolean): void {
  const text = JSON.stringify(result, null, json ? undefined : 2);
  process.stdout.write(`${text}\n`);
}
