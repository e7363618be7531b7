import { connect } from 'node:net';

/**
 * A RESP2 reply: simple and bulk strings as `string`, integers as `number`, nil as `null`, arrays as arrays,
 * and an error reply nested in an array as an `Error`.
 */
export type RespReply = string | number | null | Error | readonly RespReply[];

/**
 * Sends one command to the redis-server on `127.0.0.1:port` over a connection of its own and resolves with
 * the reply. Rejects with an `Error` whose message is the server's error reply (e.g. `LOADING …`), or when
 * the connection fails or no reply arrives within `timeoutMs` milliseconds.
 *
 * Enough for readiness probes, cluster setup and looking at a node independently of the client under
 * test; not a client (no pipelining, no reconnection, RESP2 only).
 *
 * @param port - The TCP port on 127.0.0.1.
 * @param args - The command and its arguments, e.g. `['GET', 'orders:42']`.
 * @param timeoutMs - How long to wait for the connection and the reply, in milliseconds.
 * @throws `Error` (as a rejection) with the server's error reply, or when the connection fails, closes
 *   early or no reply arrives within `timeoutMs`.
 *
 * @example
 * ```ts
 * const value = await sendCommand(redis.nodes[0].port, ['GET', 'orders:42'], 1_000); // a string, or null
 * ```
 */
export function sendCommand(port: number, args: readonly string[], timeoutMs: number): Promise<RespReply> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = Buffer.alloc(0);
    let isSettled = false;
    const settle = (error: Error | undefined, reply?: RespReply): void => {
      if (isSettled) return;
      isSettled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error === undefined) resolve(reply ?? null);
      else reject(error);
    };
    const timer = setTimeout(
      () => settle(new Error(`${args[0] ?? 'Command'} to 127.0.0.1:${port} got no reply within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('connect', () => socket.write(encodeCommand(args)));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      let parsed: ParsedReply | undefined;
      try {
        parsed = parseReply(received, 0);
      } catch (error) {
        settle(error as Error);
        return;
      }
      if (parsed === undefined) return; // The reply is still incomplete: wait for more data.
      if (parsed.value instanceof Error) settle(parsed.value);
      else settle(undefined, parsed.value);
    });
    socket.on('error', (error) => settle(error));
    socket.on('close', () => settle(new Error(`127.0.0.1:${port} closed the connection before replying to ${args[0] ?? 'a command'}`)));
  });
}

/** Encodes a command as a RESP array of bulk strings, the form every Redis command takes on the wire. */
function encodeCommand(args: readonly string[]): Buffer {
  const parts = [`*${args.length}\r\n`];
  for (const arg of args) parts.push(`$${Buffer.byteLength(arg)}\r\n${arg}\r\n`);
  return Buffer.from(parts.join(''));
}

interface ParsedReply {
  readonly value: RespReply;
  /** Offset of the first byte after this reply. */
  readonly next: number;
}

/** Parses the reply that starts at `offset`; `undefined` while `buffer` does not hold all of it yet. */
function parseReply(buffer: Buffer, offset: number): ParsedReply | undefined {
  const lineEnd = buffer.indexOf('\r\n', offset);
  if (lineEnd === -1) return undefined;
  const type = String.fromCharCode(buffer[offset] ?? 0);
  const line = buffer.toString('utf8', offset + 1, lineEnd);
  const next = lineEnd + 2;
  switch (type) {
    case '+':
      return { value: line, next };
    case '-':
      return { value: new Error(line), next };
    case ':':
      return { value: Number(line), next };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, next };
      // Bulk lengths count bytes, so the end is found in the buffer, not in a decoded string.
      if (buffer.length < next + length + 2) return undefined;
      return { value: buffer.toString('utf8', next, next + length), next: next + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, next };
      const items: RespReply[] = [];
      let cursor = next;
      for (let index = 0; index < count; index += 1) {
        const item = parseReply(buffer, cursor);
        if (item === undefined) return undefined;
        items.push(item.value);
        cursor = item.next;
      }
      return { value: items, next: cursor };
    }
    default:
      throw new Error(`Unexpected RESP reply type ${JSON.stringify(type)} at byte ${offset}`);
  }
}
