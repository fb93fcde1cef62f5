import {Cluster as Cluster5} from 'ioredis';
import {Cluster as Cluster6} from 'ioredis6';
import {Cluster as ValkeyCluster} from 'iovalkey';
import {RedisCluster, freePort} from '../servers/redis-server.js';
import {ioredisBehaviour} from './ioredis-target.js';
import {guardContract, type GuardClient, type Target} from './contract.js';

jest.setTimeout(60_000);

type ClusterClass = new (nodes: unknown[], options: Record<string, unknown>) => GuardClient;

function clusterTarget(name: string, ClusterClass: ClusterClass): Target {
	let cluster: RedisCluster;
	let refusedPort: number;

	return {
		...ioredisBehaviour,
		name,
		refusedCause: /Failed to refresh slots cache/,
		async start() {
			cluster = await RedisCluster.start(3);
			refusedPort = await freePort();
		},
		async stop() {
			await cluster.stop();
		},
		client(options = {}) {
			return new ClusterClass(options.refused ? [{host: '127.0.0.1', port: refusedPort}] : cluster.startupNodes, {
				lazyConnect: options.lazy ?? true,
				clusterRetryStrategy: options.retry ? (times: number) => Math.min(times * 20, 200) : () => null,
				redisOptions: {disconnectTimeout: 100, maxRetriesPerRequest: 1},
			});
		},
		address: options => options?.refused ? `127.0.0.1:${refusedPort}` : `127.0.0.1:${cluster.nodes[0]!.port}`,
		kill: async () => cluster.kill(),
		restart: async () => cluster.restart(),
		freeze: () => cluster.freeze(),
		thaw: () => cluster.thaw(),
	};
}

guardContract(clusterTarget('ioredis 5 Cluster, real 3-master Redis Cluster', Cluster5 as never));
guardContract(clusterTarget('ioredis 6 Cluster, real 3-master Redis Cluster', Cluster6 as never));
guardContract(clusterTarget('iovalkey Cluster, real 3-master Redis Cluster', ValkeyCluster as never));
