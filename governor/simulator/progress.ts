/** Where the simulator writes: a stream; `isTTY` turns the progress bar on. */
export interface SimOutput {
  write(text: string): unknown;
  isTTY?: boolean;
}

const WIDTH = 30;
/** Redraws at most this often (wall-clock ms). */
const REDRAW_MS = 100;

/**
 * A one-line progress bar for a terminal: `[#####.....]  45% governor`, redrawn in place and
 * throttled; on anything but a TTY it writes nothing. `wallClock` is real time (performance.now).
 */
export function progressBar(out: SimOutput, wallClock: () => number = () => performance.now()) {
  let lastDraw = -Infinity;
  let drawn = false;
  const draw = (label: string, fraction: number) => {
    const f = Math.min(1, Math.max(0, fraction));
    const filled = Math.round(f * WIDTH);
    out.write(`\r[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${String(Math.round(f * 100)).padStart(3)}% ${label.padEnd(10)}`);
    drawn = true;
  };
  return {
    update(label: string, fraction: number): void {
      if (!out.isTTY) return;
      const now = wallClock();
      if (fraction > 0 && fraction < 1 && now - lastDraw < REDRAW_MS) return;
      lastDraw = now;
      draw(label, fraction);
    },
    /** Ends the bar's line (when one was drawn). */
    done(): void {
      if (drawn) out.write('\n');
      drawn = false;
    },
  };
}
