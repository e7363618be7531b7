export { ExecutionError, ResourceLockedError } from './errors.js';
export { Lock, default } from './redlock.js';
export { type CompatBehaviour, type Settings } from './settings.js';
export type { Client, ClientExecutionResult, ExecutionResult, ExecutionStats } from './types.js';
export type { RedlockAbortSignal } from './using.js';
