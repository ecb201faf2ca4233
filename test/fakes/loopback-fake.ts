import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What every fake endpoint of the tests shares: an HTTP server on 127.0.0.1 and a free port
 * (never any other address), its URL, and a close that drops open connections.
 */
export abstract class LoopbackFake {
  private readonly server = createServer((req: IncomingMessage, res: ServerResponse) => void this.handle(req, res));

  protected abstract handle(req: IncomingMessage, res: ServerResponse): void | Promise<void>;

  /** Listens on 127.0.0.1 and a free port; resolves with this fake. */
  protected async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** An AWS error a fake answers with: its code (as on the wire), message and HTTP status. */
export class FakeAwsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}
