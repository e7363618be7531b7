import { setTimeout as delay } from 'node:timers/promises';
import type { LatencyProxy, LocalRedisNode } from 'local-redis-nodes';

/** One node the monkey may fault, and the proxy its clients go through, if any (needed to slow or cut it). */
export interface ChaosTarget {
  readonly node: LocalRedisNode;
  readonly proxy?: LatencyProxy;
}

/**
 * The faults the monkey injects:
 * - `kill-restart`: SIGKILL (a crash), then start again on the same port (data kept only with persistence);
 * - `term-restart`: SIGTERM (a clean shutdown), then start again;
 * - `pause`: SIGSTOP, then SIGCONT: connected but silent, like a hung node or a GC pause;
 * - `slow`: the proxy delays every byte by more than the per-node timeout;
 * - `partition`: the proxy holds back every byte, then lets it flow (a network partition that heals);
 * - `cut-connections`: the proxy drops every connection (a router restart); clients reconnect.
 */
export type ChaosFault = 'kill-restart' | 'term-restart' | 'pause' | 'slow' | 'partition' | 'cut-connections';

const NODE_FAULTS: readonly ChaosFault[] = ['kill-restart', 'term-restart', 'pause'];
const LINK_FAULTS: readonly ChaosFault[] = ['slow', 'partition', 'cut-connections'];

/** Options of {@link ChaosMonkey}. */
export interface ChaosMonkeyOptions {
  /** How many nodes may be faulted at the same time: a minority, so the quorum survives. */
  readonly maxAffected: number;
  /** How long one fault lasts, in milliseconds: uniform in [min, max]. */
  readonly minFaultMs: number;
  readonly maxFaultMs: number;
  /** The delay a `slow` fault adds to every byte, in milliseconds. */
  readonly slowDelayMs: number;
  /** The source of every random choice. @defaultValue `Math.random` */
  readonly random?: () => number;
}

/**
 * Injects faults into at most `maxAffected` nodes at a time until a deadline, then undoes all of them:
 * every node runs, is resumed, and its proxy is fast and healed when {@link run} resolves.
 */
export class ChaosMonkey {
  /** How many faults of each kind were injected. */
  readonly injected = new Map<ChaosFault, number>();
  readonly #targets: readonly ChaosTarget[];
  readonly #options: ChaosMonkeyOptions;
  readonly #random: () => number;
  readonly #affected = new Set<number>();

  constructor(targets: readonly ChaosTarget[], options: ChaosMonkeyOptions) {
    this.#targets = targets;
    this.#options = options;
    this.#random = options.random ?? Math.random;
  }

  /** The number of faults injected, all kinds together. */
  get injectedCount(): number {
    return [...this.injected.values()].reduce((sum, count) => sum + count, 0);
  }

  /** Injects faults until `performance.now()` passes `untilMs`, then waits for every node to recover. */
  async run(untilMs: number): Promise<void> {
    const running = new Set<Promise<void>>();
    while (performance.now() < untilMs) {
      const free = this.#targets.map((_, index) => index).filter((index) => !this.#affected.has(index));
      if (this.#affected.size < this.#options.maxAffected && free.length > 0) {
        const index = this.#pick(free);
        const target = this.#targets[index] as ChaosTarget;
        const fault = this.#pick(target.proxy === undefined ? NODE_FAULTS : [...NODE_FAULTS, ...LINK_FAULTS]);
        const durationMs = this.#options.minFaultMs + this.#random() * (this.#options.maxFaultMs - this.#options.minFaultMs);
        this.#affected.add(index);
        this.injected.set(fault, (this.injected.get(fault) ?? 0) + 1);
        const task = this.#inject(target, fault, Math.min(durationMs, Math.max(0, untilMs - performance.now()))).finally(() => {
          this.#affected.delete(index);
          running.delete(task);
        });
        running.add(task);
      }
      await delay(100 + this.#random() * 300);
    }
    await Promise.all(running);
  }

  async #inject(target: ChaosTarget, fault: ChaosFault, durationMs: number): Promise<void> {
    const { node, proxy } = target;
    switch (fault) {
      case 'kill-restart':
      case 'term-restart':
        await node.kill(fault === 'kill-restart' ? 'SIGKILL' : 'SIGTERM');
        await delay(durationMs);
        await node.start();
        return;
      case 'pause':
        node.pause();
        await delay(durationMs);
        node.resume();
        return;
      case 'slow':
        if (proxy === undefined) return;
        proxy.delayMs = this.#options.slowDelayMs;
        await delay(durationMs);
        proxy.delayMs = 0;
        return;
      case 'partition':
        proxy?.partition();
        await delay(durationMs);
        proxy?.heal();
        return;
      case 'cut-connections':
        proxy?.cutConnections();
        await delay(Math.min(durationMs, 200));
        return;
    }
  }

  #pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.#random() * items.length)] as T;
  }
}
