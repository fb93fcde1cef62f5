/*
What error messages and traces call the server: what the client really talks to, never a password. Read from each
client's own options, because ioredis keeps its defaults (`localhost:6379`) in `host`/`port` even when it talks to
sentinels, and a URL may carry credentials.
*/
import {isObject} from './options.js';

type Address = {host?: unknown; port?: unknown; path?: unknown; url?: unknown; socket?: Address & {tls?: unknown}};

/** `host:port` of a URL, or `rediss://host:port` for TLS; user and password are dropped. */
function fromUrl(text: string, tls: boolean): string {
	try {
		const url = new URL(text);
		const secure = tls || url.protocol === 'rediss:';
		const hostPort = `${url.hostname}:${url.port || 6379}`;
		return secure ? `rediss://${hostPort}` : hostPort;
	} catch {
		// Not a URL: never echo it, it may hold a password.
		return 'an unparsable URL';
	}
}

/** One address as `host:port`, a socket path, or `rediss://host:port` for TLS. */
export function describeAddress(node: unknown, tls = false): string {
	if (typeof node === 'number') {
		return `localhost:${node}`;
	}

	if (typeof node === 'string') {
		return fromUrl(node.includes('://') ? node : `redis://${node}`, tls);
	}

	if (!isObject(node)) {
		return 'localhost:6379';
	}

	const address = node as Address;
	if (typeof address.url === 'string') {
		return fromUrl(address.url, tls || Boolean(address.socket?.tls));
	}

	if (address.socket !== undefined) {
		return describeAddress(address.socket, tls || Boolean(address.socket.tls));
	}

	if (typeof address.path === 'string') {
		return address.path;
	}

	const hostPort = `${String(address.host ?? 'localhost')}:${String(address.port ?? 6379)}`;
	return tls ? `rediss://${hostPort}` : hostPort;
}

const list = (nodes: unknown[], tls = false) => nodes.map(node => describeAddress(node, tls)).join(', ');

type IORedisOptions = {
	tls?: unknown;
	sentinels?: unknown;
	name?: unknown;
	enableTLSForSentinelMode?: unknown;
	redisOptions?: {tls?: unknown};
};

/** ioredis / iovalkey `Redis` (plain, TLS, Unix socket, Sentinel) and `Cluster`. */
export function describeIORedis(client: {isCluster?: boolean; startupNodes?: unknown; options?: unknown}): string {
	const options = (isObject(client.options) ? client.options : {}) as IORedisOptions;
	if (client.isCluster === true && Array.isArray(client.startupNodes)) {
		return `cluster ${list(client.startupNodes)}${options.redisOptions?.tls ? ' (TLS)' : ''}`;
	}

	if (Array.isArray(options.sentinels) && options.sentinels.length > 0) {
		const tls = Boolean(options.enableTLSForSentinelMode ?? options.tls);
		return `sentinel ${String(options.name ?? 'mymaster')} via ${list(options.sentinels)}${tls ? ' (TLS)' : ''}`;
	}

	return describeAddress(options, Boolean(options.tls));
}

type NodeRedisLike = {
	options?: unknown;
	_options?: {rootNodes?: unknown; defaults?: {socket?: {tls?: unknown}}};
	getMasterNode?: () => unknown;
	getSentinelNode?: () => unknown;
};

/** node-redis `createClient`, `createCluster` and `createSentinel`. */
export function describeNodeRedis(client: NodeRedisLike): string {
	const rootNodes = client._options?.rootNodes;
	if (Array.isArray(rootNodes)) {
		return `cluster ${list(rootNodes, Boolean(client._options?.defaults?.socket?.tls))}`;
	}

	if (typeof client.getSentinelNode === 'function') {
		// node-redis keeps a sentinel client's options (and its master's name) private: name what it does expose.
		const sentinel = client.getSentinelNode();
		const master = client.getMasterNode?.();
		return `sentinel${master ? ` master ${describeAddress(master)}` : ''} via ${sentinel ? describeAddress(sentinel) : 'its sentinels'}`;
	}

	return describeAddress(client.options ?? {});
}
