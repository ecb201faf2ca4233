import { pino, type Logger, type DestinationStream } from 'pino';

/** The root JSON logger. Tasks get `taskLogger(root, name)`: every line carries `task`. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return destination ? pino({ level, base: { pid: process.pid } }, destination) : pino({ level, base: { pid: process.pid } });
}

export function taskLogger(root: Logger, task: string): Logger {
  return root.child({ task });
}
