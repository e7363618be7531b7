export { GlideAdapter, type GlideAdapterOptions } from './glide-adapter.js';
export type { GlideCluster, GlideDynamicSubscriptions, GlidePrimarySlotKeyRoute, GlideStandalone } from './glide-client.js';
export {
  type GlidePubSubMessage,
  type GlidePubSubSubscriptions,
  GlideReleaseNotifications,
  type GlideReleaseNotificationsOptions,
} from './glide-release-notifications.js';
