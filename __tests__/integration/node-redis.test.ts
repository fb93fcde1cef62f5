import {createClient, createCluster} from 'redis';
import {createClient as createClient5, createCluster as createCluster5} from 'redis5';
import {RedisCluster, RedisServer, freePort} from '../servers/redis-server.js';
import {guardContract, type ClientOptions, type GuardClient, type Target} from './contract.js';
import {nodeRedisBehaviour, reconnectStrategy, startup} from './node-redis-target.js';

jest.setTimeout(60_000);

function singleTarget(name: string, create: (options: object) => unknown): Target {
	let server: RedisServer;
	let refusedPort: number;
	const portFor = (options: ClientOptions = {}) => options.refused ? refusedPort : server.port;
	return {
		...nodeRedisBehaviour,
		retriesByItself: true,
		name,
		async start() {
			server = await RedisServer.start();
			refusedPort = await freePort();
		},
		stop: async () => server.stop(),
		client: (options = {}) => startup(create({
			socket: {host: '127.0.0.1', port: portFor(options), reconnectStrategy: reconnectStrategy(options)},
		}) as unknown as GuardClient, options),
		address: options => `127.0.0.1:${portFor(options)}`,
		kill: async () => server.kill(),
		restart: async () => server.process ? undefined : server.restart(),
		freeze: () => server.freeze(),
		thaw: () => server.thaw(),
	};
}

function clusterTarget(name: string, create: (options: object) => unknown): Target {
	let cluster: RedisCluster;
	let refusedPort: number;
	return {
		...nodeRedisBehaviour,
		// A cluster client does not retry its first discovery: each attempt is a fresh connect().
		retriesByItself: false,
		name,
		async start() {
			cluster = await RedisCluster.start(3);
			refusedPort = await freePort();
		},
		stop: async () => cluster.stop(),
		client(options = {}) {
			const ports = options.refused ? [refusedPort] : cluster.nodes.map(node => node.port);
			return startup(create({
				rootNodes: ports.map(port => ({url: `redis://127.0.0.1:${port}`})),
				defaults: {socket: {reconnectStrategy: reconnectStrategy(options)}},
			}) as unknown as GuardClient, options);
		},
		address: options => options?.refused ? `127.0.0.1:${refusedPort}` : `127.0.0.1:${cluster.nodes[0]!.port}`,
		kill: async () => cluster.kill(),
		restart: async () => cluster.restart(),
		freeze: () => cluster.freeze(),
		thaw: () => cluster.thaw(),
	};
}

guardContract(singleTarget('node-redis 6 createClient, real redis-server', createClient as (options: object) => unknown));
guardContract(singleTarget('node-redis 5 createClient, real redis-server', createClient5 as (options: object) => unknown));
guardContract(clusterTarget('node-redis 6 createCluster, real 3-master Redis Cluster', createCluster as (options: object) => unknown));
// A node-redis 5 cluster has no `isReady`: the guard reads its `masters` instead.
guardContract(clusterTarget('node-redis 5 createCluster, real 3-master Redis Cluster', createCluster5 as (options: object) => unknown));
