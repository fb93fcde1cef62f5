import type {GuardClient, Target} from './contract.js';

type IORedisClient = GuardClient & {status: string; quit(): Promise<unknown>; disconnect(): void};

/** What the ioredis `Redis` and `Cluster` targets share: status names, quit(), disconnect(). */
export const ioredisBehaviour: Pick<Target, 'dispose' | 'appClose' | 'ended' | 'retrying' | 'retriesByItself'> = {
	dispose: client => {
		(client as IORedisClient).disconnect();
	},
	appClose: async client => (client as IORedisClient).quit(),
	ended: client => (client as IORedisClient).status === 'end',
	async retrying(client) {
		if ((client as IORedisClient).status !== 'reconnecting') {
			await new Promise<void>(resolve => {
				client.on('reconnecting', () => {
					resolve();
				});
			});
		}
	},
	retriesByItself: true,
};
