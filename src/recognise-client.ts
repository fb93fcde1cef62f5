/*
Which adapter fits a client. Clients are recognised by shape, never with `instanceof`, so the package has no runtime
dependency on any client library and works across duplicated installs.
*/
import type {ClientAdapter} from './client-adapter.js';
import {ioredisAdapter, type IORedisLike} from './adapters/ioredis.js';
import {ioredisMockAdapter, type IORedisMockLike} from './adapters/ioredis-mock.js';
import {nodeRedisAdapter, type NodeRedisLike} from './adapters/node-redis.js';
import {isObject} from './options.js';

const hasEvents = (value: Record<string, unknown>): boolean =>
	typeof value.on === 'function' && typeof value.removeListener === 'function';

/**
Which adapter fits `client`, or `undefined` when it is not a Redis client the guard knows.
*/
export function adapterFor(client: unknown): ClientAdapter | undefined {
	if (!isObject(client) || !hasEvents(client) || typeof client.connect !== 'function') {
		return undefined;
	}

	if (typeof client.status === 'string') {
		return ioredisAdapter(client as unknown as IORedisLike);
	}

	if (typeof client.connected === 'boolean') {
		return ioredisMockAdapter(client as unknown as IORedisMockLike);
	}

	// node-redis clients, and v6 clusters; a v5 cluster has no `isReady`, but its `masters`.
	if (typeof client.isOpen === 'boolean' && (typeof client.isReady === 'boolean' || Array.isArray(client.masters))) {
		return nodeRedisAdapter(client as unknown as NodeRedisLike);
	}

	return undefined;
}
