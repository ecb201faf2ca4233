import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { StalledClients, type WatchedConnection } from '../../proxy/stalled-clients.js';

type Counters = { bytesRead: number; bytesWritten: number; writableLength: number };

/** A socket as the sweep reads it: only its byte counters. */
function fakeSocket(): Socket & Counters {
  return { bytesRead: 0, bytesWritten: 0, writableLength: 0 } as unknown as Socket & Counters;
}

describe('stalled clients', () => {
  let now = 0;
  const cuts: Socket[] = [];
  const connections = new Map<Socket, WatchedConnection>();
  let sweep: StalledClients<WatchedConnection> | undefined;
  const start = () => (sweep = new StalledClients(connections, 1_000, 3_600_000, (socket) => cuts.push(socket), () => now));

  afterEach(() => {
    sweep?.stop();
    connections.clear();
    cuts.length = 0;
    now = 0;
  });

  it('cuts a response stuck on a client that takes nothing for the limit; progress starts the count again', () => {
    const socket = fakeSocket();
    connections.set(socket, {});
    socket.bytesRead = 40;
    socket.bytesWritten = 200_000;
    socket.writableLength = 100_000;
    start();
    sweep?.sweep(); // first seen stuck at 0
    now = 900;
    socket.writableLength = 34_464; // the client took some of what the socket held
    sweep?.sweep();
    now = 1_800;
    sweep?.sweep();
    expect(cuts).toEqual([]); // stuck since 900 only
    now = 1_900;
    sweep?.sweep();
    expect(cuts).toEqual([socket]);
  });

  it('never cuts a connection whose socket holds nothing (the proxy waits on the origin, or the connection is idle)', () => {
    const socket = fakeSocket();
    socket.bytesRead = 40;
    socket.bytesWritten = 5_000;
    connections.set(socket, {});
    start();
    for (now = 0; now <= 10_000; now += 500) sweep?.sweep();
    expect(cuts).toEqual([]);
  });
});
