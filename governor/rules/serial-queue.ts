/**
 * Runs jobs one at a time in call order. A job's failure goes to its own caller only; the
 * next job runs regardless.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(job: () => Promise<T>): Promise<T> {
    const result = this.tail.then(job);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
