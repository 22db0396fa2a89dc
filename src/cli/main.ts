#!/usr/bin/env node
/** The `lemur` command line: a table of commands (src/cli/commands/<verb>.ts), one run, errors mapped to exit codes. */
import { LemurError } from '../errors.js';
import { log } from '../log.js';
import { UsageError, type Command } from './command.js';
import { buildCommand } from './commands/build.js';
import { compactCommand } from './commands/compact.js';
import { dashboardCommand } from './commands/dashboard.js';
import { deleteCommand } from './commands/delete.js';
import { demoCommand } from './commands/demo.js';
import { evalCommand } from './commands/eval.js';
import { ingestCommand } from './commands/ingest.js';
import { queryCommand } from './commands/query.js';
import { rollbackCommand } from './commands/rollback.js';
import { scheduleCommand } from './commands/schedule.js';
import { serveCommand } from './commands/serve.js';
import { statusCommand } from './commands/status.js';
import { validateCommand } from './commands/validate.js';
import { versionsCommand } from './commands/versions.js';
import { workerCommand } from './commands/worker.js';

/** In the order `lemur help` lists them. */
const COMMANDS: Command[] = [demoCommand, validateCommand, buildCommand, workerCommand, dashboardCommand, queryCommand, serveCommand, statusCommand, ingestCommand, deleteCommand, compactCommand, evalCommand, scheduleCommand, versionsCommand, rollbackCommand];

const USAGE = `usage: lemur <command> [options]

commands:
${COMMANDS.map((c) => c.usage).join('\n')}

environment: see ../shared/conventions.md (REDIS_URL, LEMUR_STORE, LEMUR_THREADS, LEMUR_KERNEL, ...)`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = COMMANDS.find((c) => c.name === name);
  if (command) return command.run(rest);
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  process.stderr.write(`lemur: unknown command '${name}'\n${USAGE}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof LemurError) {
      log.error(err.message, { code: err.code, name: err.name });
    } else if (err instanceof UsageError) {
      process.stderr.write(`lemur: ${err.message}\n${USAGE}\n`);
      process.exit(2);
    } else {
      log.error('unexpected failure', { error: err instanceof Error ? err.stack : String(err) });
    }
    process.exit(1);
  },
);
