// The traced operations: one entry per tracing channel of redlock-core, saying what its span is called,
// which attributes it carries, and what it means for the metrics (its role). Everything else (spans,
// context, metrics) is generic over this table, so a new operation's channel is one entry here: the
// elections of issue 59 will be `{ channel: DIAGNOSTICS_CHANNELS.election…, role: 'acquire', … }`.
import type { Attributes } from '@opentelemetry/api';
import {
  type AcquireTraceContext,
  type AttemptTraceContext,
  DIAGNOSTICS_CHANNELS,
  type ExtendTraceContext,
  type HoldTraceContext,
  type ReleaseTraceContext,
  type TracedCallContext,
} from 'redlock-core';
import { REDLOCK_ATTRIBUTES as A } from './attributes.js';

/** What a traced call is, for its span and its metrics. */
export interface OperationFacts {
  /** `'lock'`, `'semaphore'`, `'read-write'` (and later `'election'`). */
  readonly primitive: string;
  /** The call, e.g. `'acquire'` or `'tryAcquire'`. */
  readonly operation: string;
  /** The resources, without the key prefix. */
  readonly resources: readonly string[];
  /** Whether an acquisition re-entered a lock already held: it starts no hold of its own. */
  readonly isReentrant: boolean;
}

/**
 * What an operation means for the metrics: an `'acquire'` is timed as a wait and starts a hold when it
 * succeeds, a `'release'` ends the hold, an `'extend'` keeps it, an `'attempt'` is a span only.
 */
export type OperationRole = 'acquire' | 'attempt' | 'extend' | 'release';

/**
 * The context object every tracing channel of the core publishes: its own fields (an extension's and a
 * release's `holdId` among them), the `runInContext` hook a `start` subscriber sets, then `result` (an
 * acquisition's with its `holdId`) or `error`.
 */
export interface TraceMessage extends TracedCallContext {
  readonly holdId?: number | undefined;
  readonly result?: unknown;
  readonly error?: unknown;
}

/**
 * The hold a call names, for pairing a release with its acquisition: an acquisition's is in its result
 * (once it holds), an extension's or a release's in its context.
 */
export function holdIdOf(role: OperationRole, message: TraceMessage): number | undefined {
  if (role !== 'acquire') return message.holdId;
  return (message.result as { readonly holdId?: number | undefined } | undefined)?.holdId;
}

/** One tracing channel turned into spans. */
export interface TracedOperation<C extends TraceMessage = TraceMessage> {
  /** The tracing channel's name. */
  readonly channel: string;
  readonly role: OperationRole;
  /** The span's name: low cardinality, so never a resource. */
  readonly spanName: (message: C) => string;
  readonly facts: (message: C) => OperationFacts;
  /**
   * Adds the attributes known when the call starts, beyond the facts, to the span's `attributes`: into
   * the one object the span starts with, which the SDK copies (no spread of ours per call).
   */
  readonly startAttributes: (message: C, attributes: Attributes) => void;
  /** Attributes of a call that resolved, read from its `result`. */
  readonly resultAttributes: (message: C) => Attributes;
  /** For an `'acquire'`: whether it resolved holding something (`tryAcquire()` may resolve without). */
  readonly isHeld?: (message: C) => boolean;
}

/** Keeps each entry's message type while the table holds them all. */
function traced<C extends TraceMessage>(operation: TracedOperation<C>): TracedOperation {
  return operation as unknown as TracedOperation;
}

const lockFacts = (operation: string, message: { readonly resources: readonly string[] }, isReentrant = false): OperationFacts => ({
  primitive: 'lock',
  operation,
  resources: message.resources,
  isReentrant,
});
const holdFacts = (message: HoldTraceContext): OperationFacts => ({
  primitive: message.primitive,
  operation: message.operation,
  resources: [message.resource],
  isReentrant: false,
});
const holdStartAttributes = (message: HoldTraceContext, attributes: Attributes): void => {
  attributes[A.quorum] = message.quorum;
  attributes[A.nodeCount] = message.nodeCount;
  attributes[A.permits] = message.permits;
  if (message.mode !== undefined) attributes[A.mode] = message.mode;
  if (message.ttlMs !== undefined) attributes[A.ttlMs] = message.ttlMs;
};
const holdResultAttributes = ({ result }: HoldTraceContext): Attributes =>
  result === undefined ? {} : { [A.attempts]: result.attempts, [A.validityMs]: Math.round(result.remainingValidityMs) };
const statusesOf = (nodes: readonly { readonly status: string }[]): string[] => nodes.map((node) => node.status);

/** Every tracing channel of redlock-core this instrumentation turns into spans. */
export const TRACED_OPERATIONS: readonly TracedOperation[] = [
  traced<AcquireTraceContext>({
    channel: DIAGNOSTICS_CHANNELS.acquire,
    role: 'acquire',
    spanName: (message) => `redlock ${message.operation}`,
    facts: (message) => lockFacts(message.operation, message, message.isReentrant),
    startAttributes: (message, attributes) => {
      attributes[A.ttlMs] = message.ttlMs;
      attributes[A.quorum] = message.quorum;
      attributes[A.nodeCount] = message.nodeCount;
      attributes[A.reentrant] = message.isReentrant;
    },
    resultAttributes: ({ result }) =>
      result === undefined
        ? {}
        : { [A.attempts]: result.attempts, [A.validityMs]: Math.round(result.remainingValidityMs), [A.nodeStatuses]: statusesOf(result.nodes) },
    isHeld: ({ result }) => result?.isAcquired === true,
  }),
  traced<AttemptTraceContext>({
    channel: DIAGNOSTICS_CHANNELS.attempt,
    role: 'attempt',
    spanName: () => 'redlock attempt',
    facts: (message) => lockFacts('attempt', message),
    startAttributes: (message, attributes) => {
      attributes[A.attemptNumber] = message.attemptNumber;
      attributes[A.isWoken] = message.isWoken;
      attributes[A.quorum] = message.quorum;
      attributes[A.nodeCount] = message.nodeCount;
    },
    resultAttributes: ({ result }) => (result === undefined ? {} : { [A.outcome]: result.outcome, [A.nodeStatuses]: statusesOf(result.nodes) }),
  }),
  traced<ExtendTraceContext>({
    channel: DIAGNOSTICS_CHANNELS.extend,
    role: 'extend',
    spanName: () => 'redlock extend',
    facts: (message) => lockFacts('extend', message),
    startAttributes: (message, attributes) => {
      attributes[A.ttlMs] = message.ttlMs;
      attributes[A.quorum] = message.quorum;
      attributes[A.nodeCount] = message.nodeCount;
    },
    resultAttributes: ({ result }) => (result === undefined ? {} : { [A.validityMs]: Math.round(result.remainingValidityMs), [A.nodeStatuses]: statusesOf(result.nodes) }),
  }),
  traced<ReleaseTraceContext>({
    channel: DIAGNOSTICS_CHANNELS.release,
    role: 'release',
    spanName: () => 'redlock release',
    facts: (message) => lockFacts('release', message),
    startAttributes: (message, attributes) => {
      attributes[A.quorum] = message.quorum;
      attributes[A.nodeCount] = message.nodeCount;
    },
    resultAttributes: ({ result }) => (result === undefined ? {} : { [A.releasedCount]: result.releasedCount, [A.nodeStatuses]: statusesOf(result.nodes) }),
  }),
  traced<HoldTraceContext>({
    channel: DIAGNOSTICS_CHANNELS.holdAcquire,
    role: 'acquire',
    spanName: (message) => `redlock ${message.primitive} ${message.operation}`,
    facts: holdFacts,
    startAttributes: holdStartAttributes,
    resultAttributes: holdResultAttributes,
    isHeld: ({ result }) => result?.isHeld === true,
  }),
  traced<HoldTraceContext>({
    channel: DIAGNOSTICS_CHANNELS.holdExtend,
    role: 'extend',
    spanName: (message) => `redlock ${message.primitive} extend`,
    facts: holdFacts,
    startAttributes: holdStartAttributes,
    resultAttributes: holdResultAttributes,
  }),
  traced<HoldTraceContext>({
    channel: DIAGNOSTICS_CHANNELS.holdRelease,
    role: 'release',
    spanName: (message) => `redlock ${message.primitive} release`,
    facts: holdFacts,
    startAttributes: holdStartAttributes,
    resultAttributes: () => ({}),
  }),
];
