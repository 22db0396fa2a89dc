/** `lemur schedule set | list | remove | run`: quality-gated scheduled rebuilds (BullMQ job schedulers). */
import { parseFraction } from '../../config.js';
import { ConfigError } from '../../errors.js';
import { listSchedules, removeSchedule, runScheduleNow, setSchedule } from '../../queue/schedules.js';
import { COLUMN_FLAGS, COLUMN_USAGE, FIT_FLAGS, columnMapping, fitOptions, needRedis, parse, print, type Command } from '../command.js';

const hasColumns = (v: Record<string, unknown>): boolean => Object.keys(COLUMN_FLAGS).some((k) => v[k] !== undefined);

export const scheduleCommand: Command = {
  name: 'schedule',
  usage: `  schedule set <name> --cron "0 3 * * *" [--tz Europe/Paris] [--source PREFIX] [--tolerance 0.01]
                [--queries KEY] [--epochs N] [--m-prime N] [--n-learn N] [--hidden N] ${COLUMN_USAGE}
  schedule list | remove <name> | run <name>  scheduled rebuilds (BullMQ job schedulers, one run per tick
                                              across replicas); a run that loses more recall@10 than the
                                              tolerance is not published; needs REDIS_URL`,
  async run(args) {
    const [sub, ...rest] = args;
    const target = { redisUrl: needRedis('schedule') };
    const { values, positionals } = parse(
      rest,
      {
        cron: { type: 'string' },
        tz: { type: 'string' },
        source: { type: 'string' },
        tolerance: { type: 'string' },
        queries: { type: 'string' },
        ...FIT_FLAGS,
        ...COLUMN_FLAGS,
        json: { type: 'boolean', default: false },
      },
      true,
    );
    const name = positionals[0];
    switch (sub) {
      case 'set': {
        if (!name || !values.cron) throw new ConfigError('usage: lemur schedule set <name> --cron "0 3 * * *" [--source PREFIX] …');
        const r = await setSchedule(target, {
          name,
          cron: values.cron,
          ...(values.tz ? { tz: values.tz } : {}),
          run: {
            ...(values.source ? { source: values.source } : {}),
            ...(values.tolerance !== undefined ? { tolerance: parseFraction('--tolerance', values.tolerance, 0.01) } : {}),
            ...(values.queries ? { queries: values.queries } : {}),
            fit: fitOptions(values),
            ...(hasColumns(values) ? { input: columnMapping(values) } : {}),
          },
        });
        print(r, values.json ?? false);
        return 0;
      }
      case 'list':
        print(await listSchedules(target), values.json ?? false);
        return 0;
      case 'remove':
        if (!name) throw new ConfigError('usage: lemur schedule remove <name>');
        if (!(await removeSchedule(target, name))) throw new ConfigError(`no schedule named '${name}'`);
        print({ removed: name }, true);
        return 0;
      case 'run':
        if (!name) throw new ConfigError('usage: lemur schedule run <name>');
        print({ queued: await runScheduleNow(target, name) }, true);
        return 0;
      default:
        throw new ConfigError(`Expected lemur schedule set | list | remove | run but received '${sub ?? ''}'`);
    }
  },
};
