import {Cluster} from 'ioredis';
import {RedisCluster, freePort} from '../helpers/redis-server.js';
import {guardContract, type GuardClient} from './contract.js';

jest.setTimeout(60_000);

let cluster: RedisCluster;
let refusedPort: number;

guardContract({
	name: 'ioredis Cluster, real 3-master Redis Cluster',
	async start() {
		cluster = await RedisCluster.start(3);
		refusedPort = await freePort();
	},
	async stop() {
		await cluster.stop();
	},
	client(options = {}) {
		return new Cluster(options.refused ? [{host: '127.0.0.1', port: refusedPort}] : cluster.startupNodes, {
			lazyConnect: options.lazy ?? true,
			clusterRetryStrategy: options.retry ? (times: number) => Math.min(times * 20, 200) : () => null,
			redisOptions: {disconnectTimeout: 100, maxRetriesPerRequest: 1},
		}) as unknown as GuardClient;
	},
	address: options => options?.refused ? `127.0.0.1:${refusedPort}` : `127.0.0.1:${cluster.nodes[0]!.port}`,
	async kill() {
		await Promise.all(cluster.nodes.map(async node => node.kill()));
	},
	async restart() {
		await Promise.all(cluster.nodes.map(async node => node.process ? undefined : node.restart()));
		await cluster.waitUntilOk();
	},
	freeze() {
		for (const node of cluster.nodes) {
			node.freeze();
		}
	},
	thaw() {
		for (const node of cluster.nodes) {
			node.thaw();
		}
	},
});
