import type {ClientOptions, GuardClient, Target} from './contract.js';

type NodeRedisClient = GuardClient & {isOpen: boolean; isReady: boolean; close(): Promise<unknown>; destroy(): void};

export const reconnectStrategy = (options: ClientOptions) =>
	options.retry ? (retries: number) => Math.min(retries * 20, 200) : false as const;

/** What the node-redis targets share: close(), destroy(), isOpen/isReady. */
export const nodeRedisBehaviour: Pick<Target, 'dispose' | 'appClose' | 'ended' | 'retrying'> = {
	dispose(client: GuardClient) {
		const redis = client as NodeRedisClient;
		// node-redis 5 throws from destroy() on a client that is not open.
		if (redis.isOpen || redis.isReady) {
			redis.destroy();
		}
	},
	appClose: async (client: GuardClient) => (client as NodeRedisClient).close(),
	ended: (client: GuardClient) => !(client as NodeRedisClient).isOpen && !(client as NodeRedisClient).isReady,
	async retrying(client: GuardClient) {
		await new Promise<void>(resolve => {
			client.on('reconnecting', () => {
				resolve();
			});
		});
	},
};

/** node-redis has no lazy/eager switch: an eager app calls connect() at startup. */
export function startup<C extends GuardClient>(client: C, options: ClientOptions): C {
	client.on('error', () => undefined);
	if (options.lazy === false) {
		client.connect().catch(() => undefined);
	}

	return client;
}
