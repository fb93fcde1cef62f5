/*
Three ways an app gets a connected client before each request — the two racy ones people write, and the guard.
Each is a `RedisConnectionSource`, so the same RedisRateLimitStore runs on top of each.
*/
import {guardedRedis} from 'connection-guard';
import type {RedisClient, RedisConnectionSource} from '../rate-limit/redis-store.js';

export type VariantName = 'naive' | 'connectingPromise' | 'guarded';

/** (a) Connect whenever not ready: every caller but the first gets "Redis is already connecting/connected". */
export function naive(client: RedisClient): RedisConnectionSource {
	return {
		async ensureConnected() {
			if (client.status !== 'ready') {
				await client.connect();
			}

			return client;
		},
	};
}

/**
(b) The widely suggested "connecting promise" fix, spelled out as it is usually posted. After awaiting it falls through
and connects again (so concurrent callers still fail), and a failed connect stays in `connecting` forever (so it never
recovers).
*/
export function connectingPromise(client: RedisClient): RedisConnectionSource {
	let ready = false;
	let connecting: Promise<void> | null = null;
	return {
		async ensureConnected() {
			if (ready) {
				return client;
			}

			if (connecting) {
				await connecting;
			}

			connecting = client.connect().then(() => {
				ready = true;
				connecting = null;
			});
			await connecting;
			return client;
		},
	};
}

/** (c) connection-guard. */
export function guarded(client: RedisClient): RedisConnectionSource {
	return guardedRedis(client);
}

export const variants: Record<VariantName, (client: RedisClient) => RedisConnectionSource> = {
	naive,
	connectingPromise,
	guarded,
};
