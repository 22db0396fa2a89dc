/**
 * A TCP proxy on loopback in front of a service (Redis) that fails on command: drop every open
 * connection (a reset, as when the server dies or a network path breaks), refuse new ones (the
 * port closed: ECONNREFUSED), or stall (connections stay open, bytes are held until the stall
 * ends). Counts what it did. It does not parse the protocol; faults are switched by the test at
 * chosen moments, not drawn per byte. For tests and benchmarks only.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpFaultCounts {
  connections: number;
  dropped: number;
  refused: number;
  stalls: number;
}

interface Pair {
  client: Socket;
  upstream: Socket;
}

export class TcpFaultProxy {
  readonly host = '127.0.0.1';
  readonly port: number;
  readonly counts: TcpFaultCounts = { connections: 0, dropped: 0, refused: 0, stalls: 0 };
  readonly #target: { host: string; port: number };
  readonly #pairs = new Set<Pair>();
  #server: Server;
  #stalled = false;
  #refusing = false;
  // bytes held per direction while stalled, in order, flushed when the stall ends
  readonly #held = new Map<Socket, Buffer[]>();

  private constructor(server: Server, port: number, target: { host: string; port: number }) {
    this.#server = server;
    this.port = port;
    this.#target = target;
  }

  /** Starts the proxy on 127.0.0.1 and a free port (or `port`), forwarding to `target`. */
  static async start(target: { host?: string; port: number }, port = 0): Promise<TcpFaultProxy> {
    const t = { host: target.host ?? '127.0.0.1', port: target.port };
    let proxy: TcpFaultProxy | undefined;
    const server = await TcpFaultProxy.#listen(port, (s) => proxy!.#accept(s));
    proxy = new TcpFaultProxy(server, (server.address() as { port: number }).port, t);
    return proxy;
  }

  static async #listen(port: number, onConnection: (s: Socket) => void): Promise<Server> {
    const server = createServer(onConnection);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    return server;
  }

  /** redis://127.0.0.1:<proxy port> (for a Redis behind the proxy). */
  get url(): string {
    return `redis://${this.host}:${this.port}`;
  }

  /** Open connection pairs. */
  get open(): number {
    return this.#pairs.size;
  }

  /** Resets every open connection on both sides; new connections are still accepted. Returns how many. */
  dropAll(): number {
    const n = this.#pairs.size;
    for (const p of this.#pairs) this.#drop(p);
    this.counts.dropped += n;
    return n;
  }

  /**
   * Closes the listening port (clients get ECONNREFUSED; open connections stay unless dropped),
   * or opens it again on the same port. Another process could take the port in between: fine on
   * a test machine's loopback, where ports are drawn from a large range.
   */
  async refuse(on: boolean): Promise<void> {
    if (on === this.#refusing) return;
    this.#refusing = on;
    if (on) {
      this.counts.refused++;
      // stops listening at once; close()'s callback would wait for the open connections to end
      this.#server.close();
    } else {
      this.#server = await TcpFaultProxy.#listen(this.port, (s) => this.#accept(s));
    }
  }

  /** Holds every byte in both directions (connections stay open) until called with false. */
  stall(on: boolean): void {
    if (on === this.#stalled) return;
    this.#stalled = on;
    if (on) {
      this.counts.stalls++;
      return;
    }
    for (const [dest, chunks] of this.#held) {
      for (const c of chunks) if (!dest.destroyed) dest.write(c);
    }
    this.#held.clear();
  }

  async close(): Promise<void> {
    for (const p of this.#pairs) this.#drop(p);
    if (!this.#refusing) await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    this.counts.connections++;
    const upstream = connect(this.#target.port, this.#target.host);
    const pair: Pair = { client, upstream };
    this.#pairs.add(pair);
    // bytes are forwarded by hand, not piped, so a stall can hold them without pausing sockets
    const relay = (from: Socket, to: Socket): void => {
      from.on('data', (chunk: Buffer) => {
        if (this.#stalled) {
          const held = this.#held.get(to) ?? [];
          held.push(chunk);
          this.#held.set(to, held);
        } else if (!to.destroyed) {
          to.write(chunk);
        }
      });
      from.on('end', () => to.end());
    };
    relay(client, upstream);
    relay(upstream, client);
    const gone = (): void => {
      if (!this.#pairs.has(pair)) return;
      this.#pairs.delete(pair);
      this.#held.delete(client);
      this.#held.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', gone).on('close', gone);
    upstream.on('error', gone).on('close', gone);
  }

  #drop(p: Pair): void {
    this.#pairs.delete(p);
    this.#held.delete(p.client);
    this.#held.delete(p.upstream);
    p.client.resetAndDestroy();
    p.upstream.destroy();
  }
}
