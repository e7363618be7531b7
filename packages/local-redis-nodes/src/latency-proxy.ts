import { type AddressInfo, createConnection, createServer, type Socket } from 'node:net';

/** Options of {@link startLatencyProxy}. */
export interface LatencyProxyOptions {
  /** The port on 127.0.0.1 to forward to, e.g. a local redis-server's. */
  readonly targetPort: number;
  /** Delay added to every chunk in each direction, in milliseconds. @defaultValue `0` */
  readonly delayMs?: number;
}

/**
 * A TCP proxy on 127.0.0.1 in front of one node, to make it slow or unreachable the way a network does:
 * bytes are delayed (in order) or held back, never lost or reordered inside a connection, and connections
 * can be cut.
 */
export interface LatencyProxy {
  /** The proxy's own port: point clients here instead of at the node. */
  readonly port: number;
  /** `redis://127.0.0.1:PORT` of the proxy. */
  readonly url: string;
  /** Delay added to every chunk in each direction from now on, in milliseconds. */
  delayMs: number;
  /** Holds back every byte in both directions, like a partition: nothing is lost, it flows on `heal()`. */
  partition(): void;
  /** Ends a partition: the held bytes flow, in order, with the current delay. */
  heal(): void;
  /** Cuts every open connection, as a dropped link or a crashed router would. */
  cutConnections(): void;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

/**
 * Starts a {@link LatencyProxy} on a free port of 127.0.0.1 in front of `127.0.0.1:targetPort`, and
 * resolves once it listens. The target is dialled for each client connection, so it may be down when the
 * proxy starts: clients then see their connection closed. Call `close()` when done.
 *
 * @throws `TypeError`/`RangeError` for a `targetPort` that is not a port number or a `delayMs` that is not
 *   a finite number ≥ 0, before anything starts. `Error` (as a rejection) if the proxy cannot listen.
 *
 * @example
 * ```ts
 * const proxy = await startLatencyProxy({ targetPort: redis.nodes[0].port, delayMs: 25 }); // 50 ms round trip
 * const client = new Redis(proxy.url);
 * proxy.partition(); // commands now wait…
 * proxy.heal(); // …and are answered, in order
 * await client.quit();
 * await proxy.close();
 * ```
 */
export async function startLatencyProxy(options: LatencyProxyOptions): Promise<LatencyProxy> {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`Expected \`options\` to be an object, got \`${String(options)}\``);
  }
  const { targetPort, delayMs = 0 } = options;
  if (typeof targetPort !== 'number') throw new TypeError(`Expected \`targetPort\` to be a number, got \`${String(targetPort)}\``);
  if (!Number.isInteger(targetPort) || targetPort < 1 || targetPort > 65_535) {
    throw new RangeError(`Expected \`targetPort\` to be an integer from 1 to 65535, got \`${targetPort}\``);
  }
  if (typeof delayMs !== 'number') throw new TypeError(`Expected \`delayMs\` to be a number, got \`${String(delayMs)}\``);
  if (!Number.isFinite(delayMs) || delayMs < 0) {
    throw new RangeError(`Expected \`delayMs\` to be a finite number of milliseconds ≥ 0, got \`${delayMs}\``);
  }
  const sockets = new Set<Socket>();
  const pipes: Pipe[] = [];
  let isPartitioned = false;

  const server = createServer((client) => {
    // No Nagle: a write held for the peer's delayed ACK would add 40 ms on top of the delay we mean to add.
    client.setNoDelay(true);
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort, noDelay: true });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      // A cut or refused connection ends both sides; the error itself is the client's to see as a close.
      socket.on('error', () => undefined);
      socket.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    pipes.push(new Pipe(client, upstream, proxy), new Pipe(upstream, client, proxy));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  const proxy: LatencyProxy & { readonly isPartitioned: boolean } = {
    port,
    url: `redis://127.0.0.1:${port}`,
    delayMs,
    get isPartitioned() {
      return isPartitioned;
    },
    partition() {
      isPartitioned = true;
    },
    heal() {
      isPartitioned = false;
      for (const pipe of pipes) pipe.flush();
    },
    cutConnections() {
      for (const socket of sockets) socket.destroy();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}

/** One direction of one connection: chunks leave in arrival order, each no earlier than its due time. */
class Pipe {
  readonly #queue: { readonly chunk: Buffer; readonly dueAt: number }[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(
    from: Socket,
    private readonly to: Socket,
    private readonly proxy: { readonly delayMs: number; readonly isPartitioned: boolean },
  ) {
    from.on('data', (chunk: Buffer) => {
      this.#queue.push({ chunk, dueAt: performance.now() + this.proxy.delayMs });
      this.flush();
    });
  }

  /** Sends every chunk that is due, then waits for the next one. */
  flush(): void {
    if (this.#timer !== undefined || this.proxy.isPartitioned) return;
    while (this.#queue.length > 0) {
      const next = this.#queue[0] as { chunk: Buffer; dueAt: number };
      const waitMs = next.dueAt - performance.now();
      if (waitMs > 0) {
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.flush();
        }, Math.ceil(waitMs));
        return;
      }
      this.#queue.shift();
      if (!this.to.destroyed) this.to.write(next.chunk);
    }
  }
}
