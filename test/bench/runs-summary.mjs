// The summary of the proxy benchmark's run log (docs/proxy-benchmark-runs.md): for each size,
// machine and ratio, how many runs have it, the median of their ratios, the range, and for a
// ratio with a target how many runs met it. The README's summary of the log is this output.
//
//   node test/bench/runs-summary.mjs [--log FILE] [--machine NAME]
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseBenchArgs } from './bench-args.mjs';
import { median } from './round-statistics.mjs';

const DEFAULT_LOG = fileURLToPath(new URL('../../docs/proxy-benchmark-runs.md', import.meta.url));

/** The ratios with a target, by their column's heading in the log: a run meets it when its ratio is at least this. */
export const LOGGED_TARGETS = { 'hits / bare Node': 0.9, 'misses / keep-alive http-proxy': 0.9, 'misses / http-proxy defaults': 2.5 };

/** A cell of a ratio the run did not measure (a target added later). */
const NOT_RUN = 'not run';

/**
 * The runs of a log: under each `## <size>` heading, one Markdown table whose first two columns
 * are `Run` and `Machine` and whose other columns are ratios (a number, or `not run`). Returns
 * { size, run, machine, ratios: { [heading]: number | undefined } } in the log's order. Throws an
 * Error naming the line of a row whose cell count differs from its heading's or whose ratio is
 * neither a number nor `not run`, and of a table outside a size section.
 */
export function parseRunLog(text) {
  const runs = [];
  let size;
  let headings;
  text.split('\n').forEach((line, index) => {
    const where = `line ${index + 1}`;
    if (line.startsWith('## ')) {
      size = line.slice(3).trim();
      headings = undefined;
      return;
    }
    if (!line.startsWith('|')) {
      headings = undefined;
      return;
    }
    const cells = line.split('|').slice(1, -1).map((cell) => cell.trim());
    if (headings === undefined) {
      if (size === undefined) throw new Error(`${where}: a table before any "## <size>" heading`);
      if (cells[0] !== 'Run' || cells[1] !== 'Machine') throw new Error(`${where}: a table's first columns must be "Run" and "Machine", not "${cells.slice(0, 2).join('", "')}"`);
      headings = cells;
      return;
    }
    if (cells.every((cell) => /^-+:?$/.test(cell))) return;
    if (cells.length !== headings.length) throw new Error(`${where}: ${cells.length} cells where the table has ${headings.length} columns`);
    const ratios = {};
    headings.slice(2).forEach((heading, column) => {
      const cell = cells[column + 2];
      if (cell === NOT_RUN) {
        ratios[heading] = undefined;
        return;
      }
      if (!/^\d+(\.\d+)?$/.test(cell)) throw new Error(`${where}: "${cell}" under "${heading}" is neither a ratio nor "${NOT_RUN}"`);
      ratios[heading] = Number(cell);
    });
    runs.push({ size, run: cells[0], machine: cells[1], ratios });
  });
  return runs;
}

/**
 * Per size, machine and ratio that some run measured, in the log's order of sizes and columns:
 * { size, machine, ratio, runs, median, low, high, target, met }; `target` and `met` (runs at or
 * above it) are undefined for a ratio without one.
 */
export function summarize(runs) {
  const groups = new Map();
  for (const { size, machine, ratios } of runs) {
    for (const [ratio, value] of Object.entries(ratios)) {
      const key = JSON.stringify([size, machine, ratio]);
      if (!groups.has(key)) groups.set(key, { size, machine, ratio, values: [] });
      if (value !== undefined) groups.get(key).values.push(value);
    }
  }
  const measured = [...groups.values()].filter(({ values }) => values.length > 0);
  return measured.map(({ size, machine, ratio, values }) => {
    const target = LOGGED_TARGETS[ratio];
    return {
      size,
      machine,
      ratio,
      runs: values.length,
      median: median(values),
      low: Math.min(...values),
      high: Math.max(...values),
      target,
      met: target === undefined ? undefined : values.filter((value) => value >= target).length,
    };
  });
}

/** A logged ratio as the log writes it: two decimals, or as many as it has (0.897). */
const ratioText = (value) => (Number(value.toFixed(2)) === value ? value.toFixed(2) : String(value));

function main() {
  const args = parseBenchArgs({
    options: { log: { type: 'string', default: DEFAULT_LOG }, machine: { type: 'string' } },
    usage: `Usage: node test/bench/runs-summary.mjs [--log FILE] [--machine NAME]

Summarizes the proxy benchmark's run log (default ${DEFAULT_LOG}): per size, machine and ratio,
the runs' median, range and, for a ratio with a target, how many runs met it.
  --log FILE      the log to read
  --machine NAME  only the runs of this machine (the log's Machine column)`,
  });
  let runs;
  try {
    runs = parseRunLog(readFileSync(args.log, 'utf8'));
  } catch (err) {
    console.error(`${args.log}: ${err.message}`);
    process.exit(1);
  }
  const chosen = args.machine === undefined ? runs : runs.filter((run) => run.machine === args.machine);
  if (chosen.length === 0) {
    console.error(`${args.log}: no runs${args.machine === undefined ? '' : ` of machine ${args.machine}`}`);
    process.exit(1);
  }
  console.table(
    summarize(chosen).map(({ size, machine, ratio, runs: count, median: middle, low, high, target, met }) => ({
      size,
      machine,
      ratio,
      runs: count,
      median: middle.toFixed(3),
      range: `${ratioText(low)}-${ratioText(high)}`,
      target: target === undefined ? '' : `>= ${target}: met in ${met} of ${count}`,
    })),
  );
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) main();
