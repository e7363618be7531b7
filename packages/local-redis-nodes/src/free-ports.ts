import { type AddressInfo, createServer, type Server } from 'node:net';

/**
 * Finds `count` distinct free TCP ports on 127.0.0.1: the kernel picks each one for a server bound to port
 * 0, and all of them are held open together so no port is picked twice. Another process may still take a
 * port before redis-server binds it; callers retry with fresh ports when that happens.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let index = 0; index < count; index += 1) servers.push(await listenOnFreePort());
    return servers.map((server) => (server.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }
}

function listenOnFreePort(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => resolve(server));
  });
}
