import { Inject, Injectable } from '@nestjs/common';
import { type NodeHealth, Redlock } from 'redlock-core';

/** What {@link RedlockHealthIndicator.isHealthy} reports under its key: `@nestjs/terminus`'s result shape. */
export interface RedlockHealthDetails {
  /** `'up'` while at least a quorum of nodes is up, so that locks can be acquired; `'down'` otherwise. */
  readonly status: 'up' | 'down';
  /** How many nodes are `'up'`. */
  readonly nodesUp: number;
  /** How many nodes must agree: ⌊N/2⌋+1. */
  readonly quorum: number;
  /** Each node's health, as `redlock.nodeHealth()` gives it. */
  readonly nodes: readonly NodeHealth[];
}

/**
 * A health indicator for `@nestjs/terminus`, built on `redlock.nodeHealth()`: it calls no node, and
 * reports down when fewer than a quorum of nodes are up, since no lock can be acquired then. A node is
 * down from a call that timed out or found no connection until it answers again (see `NodeHealth`), so
 * an idle `Redlock` reports up until its calls have shown otherwise. It imports nothing of terminus:
 * terminus reads the result's `status`.
 *
 * @example
 * ```ts
 * @Controller('health')
 * export class HealthController {
 *   constructor(
 *     private readonly health: HealthCheckService,
 *     private readonly redlockHealth: RedlockHealthIndicator,
 *   ) {}
 *
 *   @Get()
 *   @HealthCheck()
 *   check() {
 *     return this.health.check([() => this.redlockHealth.isHealthy('redlock')]);
 *   }
 * }
 * ```
 */
@Injectable()
export class RedlockHealthIndicator {
  readonly #redlock: Redlock;

  /** Made by Nest, with the module's `Redlock`. */
  constructor(@Inject(Redlock) redlock: Redlock) {
    this.#redlock = redlock;
  }

  /**
   * The nodes' health under `key`, as terminus expects a health indicator's result: `{ [key]: details }`,
   * whose `status` is `'down'` when fewer than a quorum of nodes are up, which fails the health check.
   * @param key - The name under which the health check reports it.
   * @defaultValue `key`: `'redlock'`
   */
  isHealthy<const Key extends string = 'redlock'>(key: Key = 'redlock' as Key): { readonly [name in Key]: RedlockHealthDetails } {
    const nodes = this.#redlock.nodeHealth();
    const nodesUp = nodes.filter((node) => node.state === 'up').length;
    const quorum = this.#redlock.quorum;
    const details: RedlockHealthDetails = { status: nodesUp >= quorum ? 'up' : 'down', nodesUp, quorum, nodes };
    return { [key]: details } as { readonly [name in Key]: RedlockHealthDetails };
  }
}
