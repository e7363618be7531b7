export { LockSignal } from './lock-signal.js';
export type { GuardedMethodDecorator } from './guarded-method.js';
export type {
  RedlockModuleAsyncOptions,
  RedlockModuleClient,
  RedlockModuleClientNode,
  RedlockModuleClientsOptions,
  RedlockModuleCommonOptions,
  RedlockModuleNodesOptions,
  RedlockModuleOptions,
  RedlockModuleScope,
} from './module-options.js';
export { RedlockHealthIndicator, type RedlockHealthDetails } from './redlock-health-indicator.js';
export { RedlockModule } from './redlock-module.js';
export { WithLock, type WithLockOptions } from './with-lock.js';
export { WithPermit, type WithPermitOptions } from './with-permit.js';
