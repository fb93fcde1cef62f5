import {RedisServer} from '../servers/redis-server.js';
import {TcpProxy} from '../servers/tcp-proxy.js';

export type ProxiedRedis = {server: RedisServer; proxy: TcpProxy; stop(): Promise<void>};

/** A private redis-server with a TCP fault proxy in front of it (clients connect to `proxy.port`). */
export async function proxiedRedis(): Promise<ProxiedRedis> {
	const server = await RedisServer.start();
	const proxy = new TcpProxy({host: '127.0.0.1', port: server.port});
	await proxy.up();
	return {
		server,
		proxy,
		async stop() {
			await proxy.down();
			await server.stop();
		},
	};
}
