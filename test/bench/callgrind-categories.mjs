// Where callgrind's counts fall in a process: the proxy benchmark's --instructions --by-category.
// Each function's own (self) counts from a callgrind file, JIT-compiled JavaScript named from the
// symbol map V8 writes with --perf-basic-prof (callgrind itself knows such code only by address),
// summed by the categories of cpu-profile.mjs, so that instructions and simulated cache misses
// split the same way as --profile's CPU time.
import { eventNames } from './callgrind.mjs';
import { categoryOf } from './cpu-profile.mjs';

/**
 * The self counts of every function in the text of a callgrind file, as a Map from
 * "object\tfunction" to an array of counts in the order of its `events:` line. Call lines
 * (`calls=`) are each followed by the inclusive cost of the call, which belongs to the callee and
 * is left out; names compressed as `fn=(id) name` and referenced as `fn=(id)` (shared with
 * `cfn=`, as `ob=` is with `cob=`) are resolved.
 */
export function selfCosts(text) {
  const names = { ob: new Map(), fn: new Map() };
  const costs = new Map();
  let object = '';
  let current;
  let callCost = false;
  for (const line of text.split('\n')) {
    if (callCost) {
      callCost = false;
      continue;
    }
    const named = /^(c?)(ob|fn)=(?:\((\d+)\))? ?(.*)$/.exec(line);
    if (named !== null) {
      const [, called, kind, id, given] = named;
      const name = given !== '' || id === undefined ? given : (names[kind].get(id) ?? `(${id})`);
      if (id !== undefined && given !== '') names[kind].set(id, given);
      if (called) continue;
      if (kind === 'ob') object = name;
      else current = `${object}\t${name}`;
      continue;
    }
    if (line.startsWith('calls=')) {
      callCost = true;
      continue;
    }
    if (current === undefined || !/^[-+*\d]/.test(line)) continue;
    // A cost line: its position (the line number, possibly relative), then the counts; trailing zeros left out.
    const counts = line.trim().split(/\s+/).slice(1).map(Number);
    const sum = costs.get(current) ?? [];
    counts.forEach((count, i) => (sum[i] = (sum[i] ?? 0) + count));
    costs.set(current, sum);
  }
  return costs;
}

/**
 * A lookup from a code address to the name V8 gave the code there, from the text of a
 * /tmp/perf-<pid>.map ("start size name" per line, hexadecimal); undefined for an address no
 * entry covers. Where entries overlap (code freed and its space reused), the one written last wins.
 */
export function jitSymbols(mapText) {
  const entries = [];
  for (const line of mapText.split('\n')) {
    const match = /^([0-9a-f]+) ([0-9a-f]+) (.+)$/i.exec(line);
    if (match !== null) entries.push({ start: parseInt(match[1], 16), end: parseInt(match[1], 16) + parseInt(match[2], 16), name: match[3] });
  }
  return (address) => entries.findLast((entry) => entry.start <= address && address < entry.end)?.name;
}

/** The row for JIT code that the symbol map does not name (V8's own stubs, code compiled before the map was opened). */
export const UNNAMED_JIT = 'JIT, unnamed';

/**
 * The counts of a callgrind file's text summed by category of cpu-profile.mjs (plus UNNAMED_JIT),
 * as a Map from category to { event: count }: functions of the node binary are V8's builtins or
 * C++, those of unknown objects JIT code named with `symbolAt` (from jitSymbols), the rest
 * libraries. `root` is the project's folder with a trailing slash.
 */
export function countsByCategory(text, symbolAt, root) {
  const events = eventNames(text);
  const byCategory = new Map();
  for (const [key, counts] of selfCosts(text)) {
    const [object, name] = key.split('\t');
    const category = categoryOfFunction(object, name, symbolAt, root);
    const sum = byCategory.get(category) ?? Object.fromEntries(events.map((event) => [event, 0]));
    events.forEach((event, i) => (sum[event] += counts[i] ?? 0));
    byCategory.set(category, sum);
  }
  return byCategory;
}

function categoryOfFunction(object, name, symbolAt, root) {
  if (object === '???' && /^0x[0-9a-f]+$/i.test(name)) {
    const symbol = symbolAt(parseInt(name, 16));
    return symbol === undefined ? UNNAMED_JIT : categoryOf('[JIT]', symbol, root);
  }
  return categoryOf(object.endsWith('/node') ? 'node' : object, name, root);
}
