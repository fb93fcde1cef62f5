import {Redis as Redis5} from 'ioredis';
import {Redis as Redis6} from 'ioredis6';
import {Redis as Valkey} from 'iovalkey';
import {RedisServer, freePort} from '../servers/redis-server.js';
import {ioredisBehaviour} from './ioredis-target.js';
import {guardContract, type ClientOptions, type GuardClient, type Target} from './contract.js';

jest.setTimeout(30_000);

function singleServerTarget(name: string, RedisClass: new (options: Record<string, unknown>) => GuardClient): Target {
	let server: RedisServer;
	let refusedPort: number;
	const portFor = (options: ClientOptions = {}) => options.refused ? refusedPort : server.port;

	return {
		...ioredisBehaviour,
		name,
		async start() {
			server = await RedisServer.start();
			refusedPort = await freePort();
		},
		async stop() {
			await server.stop();
		},
		client(options = {}) {
			return new RedisClass({
				host: '127.0.0.1',
				port: portFor(options),
				lazyConnect: options.lazy ?? true,
				// `null` stops retrying: the client ends at `end`. Otherwise retry quickly so tests stay short.
				retryStrategy: options.retry ? (times: number) => Math.min(times * 20, 200) : () => null,
				maxRetriesPerRequest: 1,
				disconnectTimeout: 100,
			});
		},
		address: options => `127.0.0.1:${portFor(options)}`,
		kill: async () => server.kill(),
		restart: async () => server.process ? undefined : server.restart(),
		freeze: () => server.freeze(),
		thaw: () => server.thaw(),
	};
}

guardContract(singleServerTarget('ioredis 5 Redis, real redis-server', Redis5 as never));
guardContract(singleServerTarget('ioredis 6 Redis, real redis-server', Redis6 as never));
guardContract(singleServerTarget('iovalkey Redis, real redis-server', Valkey as never));
