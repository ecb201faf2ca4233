import type { Socket } from 'node:net';

/** The sweep's notes on a client connection. */
export interface WatchedConnection {
  /** When the connection was first seen stuck, and deliveredBytes(socket) then. */
  stalledSince?: number;
  deliveredWhenStalled?: number;
}

/**
 * Finds clients that stopped reading their response (a slow-read attack, or a peer gone without a
 * FIN): every `everyMs`, one timer looks at each connection whose socket holds bytes the kernel
 * has not taken yet (a streamed response waiting for the client, or a whole cached one written
 * at once: Node counts the latter as ended, so the response's own state cannot tell), and calls
 * `stalled` for one whose socket has delivered nothing more to the kernel for `limitMs` (reported
 * between `limitMs` and `limitMs + everyMs` after the stall began). A client that reads is never
 * reported, as long as it frees room in the kernel's send buffer within `limitMs` (the socket can
 * write again once about a third of that buffer is free); neither is one waiting for the proxy
 * (queue, origin): its socket holds nothing. The rest is Node's to time out: a silent or
 * incomplete request (headersTimeout, requestTimeout: 408) and an idle keep-alive connection
 * (keepAliveTimeout).
 *
 * Nothing happens per request: Node's per-socket idle timer (`server.setTimeout`), which did
 * this before, creates a timer at every request of a keep-alive connection.
 */
export class StalledClients<C extends WatchedConnection> {
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly connections: ReadonlyMap<Socket, C>,
    private readonly limitMs: number,
    everyMs: number,
    private readonly stalled: (socket: Socket, connection: C) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.timer = setInterval(() => this.sweep(), everyMs);
    this.timer.unref();
  }

  /** One look at every connection (the timer calls it). */
  sweep(): void {
    const now = this.now();
    for (const [socket, connection] of this.connections) {
      if (socket.writableLength === 0) {
        connection.stalledSince = undefined;
        continue;
      }
      const delivered = deliveredBytes(socket);
      if (connection.stalledSince === undefined || delivered !== connection.deliveredWhenStalled) {
        connection.stalledSince = now;
        connection.deliveredWhenStalled = delivered;
      } else if (now - connection.stalledSince >= this.limitMs) {
        connection.stalledSince = undefined;
        this.stalled(socket, connection);
      }
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/**
 * Bytes the socket has handed to the kernel: those given to it (bytesWritten) less those it still
 * holds (writableLength). It grows while the client reads, even once the whole response was given
 * to the socket.
 */
function deliveredBytes(socket: Socket): number {
  return socket.bytesWritten - socket.writableLength;
}
