import type { InstanceInfo } from '../cloud/port.js';
import type { PolicyBounds } from './policies.js';

/**
 * The fleet invariants a governed run must keep at every second, checked against the cloud's
 * records (pending, running and leaving members): never above the cap nor below the minimum,
 * at most one instance leaving, and always one serving or draining (the last instance never
 * leaves). Returns what is wrong, empty when all hold.
 */
export function fleetViolations(members: readonly InstanceInfo[], bounds: Pick<PolicyBounds, 'minInstances' | 'maxInstances'>): string[] {
  const live = members.filter((m) => m.state !== 'terminated');
  const leaving = live.filter((m) => m.state === 'leaving').length;
  const running = live.filter((m) => m.state === 'running').length;
  const problems: string[] = [];
  if (live.length > bounds.maxInstances) problems.push(`${live.length} members, above the cap ${bounds.maxInstances}`);
  if (live.length < bounds.minInstances) problems.push(`${live.length} members, below the minimum ${bounds.minInstances}`);
  if (leaving > 1) problems.push(`${leaving} instances leaving at once`);
  if (running + leaving === 0) problems.push('no instance left serving');
  return problems;
}

/** Launch slots filled by more than one instance, over the whole history (terminated included). */
export function duplicateSlots(history: readonly InstanceInfo[]): string[] {
  const bySlot = new Map<string, number>();
  for (const r of history) if (r.launchSlot !== undefined) bySlot.set(r.launchSlot, (bySlot.get(r.launchSlot) ?? 0) + 1);
  return [...bySlot].filter(([, n]) => n > 1).map(([slot]) => slot);
}
