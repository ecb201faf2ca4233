import cron from 'node-cron';
import { GovError } from '../errors.js';

/**
 * When a task's cron schedule fires, as a predicate over whole seconds in UTC, for the
 * simulator's tick driver (node-cron's own planner formats every date through Intl and costs
 * more than the tasks it runs). Fields come from node-cron's parser, so the expression means
 * what it means to node-cron; day of month and day of week must both match, as node-cron has it.
 * Special day values (L, nth weekday) are refused with GOV_ERR_SIM_INVALID.
 */
export function cronFiresAt(schedule: string, task: string): (ms: number) => boolean {
  const fields = cron.parse(schedule);
  const numeric = (name: string, values: Array<number | string>): Set<number> => {
    if (values.some((v) => typeof v !== 'number')) {
      throw new GovError('GOV_ERR_SIM_INVALID', `task ${task}: the ${name} field of "${schedule}" uses special values the tick driver does not support; use the cron driver`, {
        task,
        schedule,
      });
    }
    return new Set(values as number[]);
  };
  const second = new Set(fields.second);
  const minute = new Set(fields.minute);
  const hour = new Set(fields.hour);
  const day = numeric('day of month', fields.dayOfMonth);
  const month = new Set(fields.month);
  const weekday = numeric('day of week', fields.dayOfWeek);
  const everyDate = day.size === 31 && month.size === 12 && weekday.size === 7;
  return (ms) => {
    const s = Math.floor(ms / 1000);
    if (ms % 1000 !== 0 || !second.has(s % 60) || !minute.has(Math.floor(s / 60) % 60) || !hour.has(Math.floor(s / 3600) % 24)) return false;
    if (everyDate) return true;
    const date = new Date(ms);
    return day.has(date.getUTCDate()) && month.has(date.getUTCMonth() + 1) && weekday.has(date.getUTCDay());
  };
}
