// Type test, checked by `tsc -p tsconfig.test.json` and never run: GLIDE's standalone and cluster clients
// fit GlideAdapter as they are, and the notifications' pub/sub config fits both client configurations,
// under strict TypeScript.
import { GlideClient, type GlideClientConfiguration, GlideClusterClient, type GlideClusterClientConfiguration } from '@valkey/valkey-glide';
import { GlideAdapter, GlideReleaseNotifications } from '../../src/index.js';

export async function everyClientFits(): Promise<GlideAdapter[]> {
  const notifications = new GlideReleaseNotifications();
  const standaloneConfig: GlideClientConfiguration = {
    addresses: [{ host: '127.0.0.1', port: 6379 }],
    requestTimeout: 2_000,
    pubsubSubscriptions: notifications.pubsubSubscriptions,
  };
  const clusterNotifications = new GlideReleaseNotifications({ keyPrefix: 'lock:' });
  const clusterConfig: GlideClusterClientConfiguration = {
    addresses: [{ host: '127.0.0.1', port: 7000 }],
    pubsubSubscriptions: clusterNotifications.pubsubSubscriptions,
  };
  const standalone = await GlideClient.createClient(standaloneConfig);
  const cluster = await GlideClusterClient.createClient(clusterConfig);
  return [
    new GlideAdapter(standalone, { notifications }),
    new GlideAdapter(cluster, { notifications: clusterNotifications }),
    new GlideAdapter(await GlideClient.createClient({ addresses: [{ host: '127.0.0.1' }] })),
  ];
}

export function nonClientsDoNotFit(): void {
  // @ts-expect-error: an object without customCommand is no GLIDE client.
  new GlideAdapter({ get: async () => null });
}
