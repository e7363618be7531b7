import type { Redis } from 'ioredis';
import { connectClients, FAR_NODE_INDEX, type Topology } from './bench-nodes.js';
import type { Contender, ContenderDefinition, RetryPolicy } from './contenders/contender.js';

/** What a pool connects its contenders to: the bench's nodes (`BenchNodes`) or an S6 topology. */
export interface PoolNodes {
  /** `redis://127.0.0.1:PORT` per node, for a topology. */
  urls(topology: Topology): readonly string[];
  /** Indexes of nodes that accept connections but never answer; none unless set. */
  readonly blackholed?: readonly number[];
}

/**
 * Builds contenders on demand and keeps them for later scenarios. Each instance of a contender gets its
 * own clients (never shared with another library or another instance), as separate processes would have,
 * opened and ready before anything is timed. Instances with the same `instance` number share clients
 * across retry policies, since the policies never run at the same time.
 */
export class ContenderPool {
  readonly #nodes: PoolNodes;
  readonly #clients = new Map<string, Promise<Redis[]>>();
  /** Clients contenders opened for themselves (e.g. subscribers), closed with the rest. */
  readonly #extraClients: Promise<Redis[]>[] = [];
  readonly #instances = new Map<string, Promise<Contender>>();

  constructor(nodes: PoolNodes) {
    this.#nodes = nodes;
  }

  /**
   * Instance number `instance` of a contender, built on `topology` with `retry`; rejects if the library
   * cannot be built on it.
   */
  get(definition: ContenderDefinition, topology: Topology, retry: RetryPolicy, instance = 0): Promise<Contender> {
    const key = `${definition.name}|${topology}|${retry}|${instance}`;
    let contender = this.#instances.get(key);
    if (contender === undefined) {
      contender = this.#clientsFor(definition, topology, instance).then((clients) =>
        definition.create({
          clients,
          retry,
          farNodeIndex: topology === 'far' ? FAR_NODE_INDEX : undefined,
          connectMore: (overrides) => {
            const more = connectClients(this.#nodes.urls(topology), { ...definition.clientOptions, ...overrides }, this.#nodes.blackholed, definition.client === 'ioredis5' ? 5 : 6);
            this.#extraClients.push(more);
            return more;
          },
        }),
      );
      this.#instances.set(key, contender);
    }
    return contender;
  }

  /** Disconnects every client the pool opened. */
  async close(): Promise<void> {
    const sets = await Promise.allSettled([...this.#clients.values(), ...this.#extraClients]);
    for (const set of sets) if (set.status === 'fulfilled') for (const client of set.value) client.disconnect();
  }

  #clientsFor(definition: ContenderDefinition, topology: Topology, instance: number): Promise<Redis[]> {
    const key = `${definition.name}|${topology}|${instance}`;
    let clients = this.#clients.get(key);
    if (clients === undefined) {
      const major = definition.client === 'ioredis5' ? 5 : 6;
      clients = connectClients(this.#nodes.urls(topology), definition.clientOptions, this.#nodes.blackholed, major);
      this.#clients.set(key, clients);
    }
    return clients;
  }
}
