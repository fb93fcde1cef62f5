/*
Three ways an app gets a connected client before each request — the two racy ones people write, and the guard.
Each is a `RedisConnectionSource`, so the same RedisRateLimitStore runs on top of each.
*/
import type {Redis} from 'ioredis';
import {guardedRedis} from 'connection-guard';
import type {RedisConnectionSource} from '../rate-limit/redis-store.js';

/** The demo's clients: ioredis (or ioredis-mock, which has its shape). */
export type DemoClient = Redis;

export type VariantName = 'naive' | 'connectingPromise' | 'guarded';

/** A source from a way of getting a connected client: the command then runs on it, with no deadline of its own. */
function sourceOf(client: DemoClient, ensureConnected: () => Promise<DemoClient>): RedisConnectionSource<DemoClient> {
	return {
		client,
		ensureConnected,
		async run(fn) {
			return fn(await ensureConnected());
		},
	};
}

/** (a) Connect whenever not ready: every caller but the first gets "Redis is already connecting/connected". */
export function naive(client: DemoClient): RedisConnectionSource<DemoClient> {
	return sourceOf(client, async () => {
		if (client.status !== 'ready') {
			await client.connect();
		}

		return client;
	});
}

/**
(b) The widely suggested "connecting promise" fix, spelled out as it is usually posted. After awaiting it falls through
and connects again (so concurrent callers still fail), and a failed connect stays in `connecting` forever (so it never
recovers).
*/
export function connectingPromise(client: DemoClient): RedisConnectionSource<DemoClient> {
	let ready = false;
	let connecting: Promise<void> | null = null;
	return sourceOf(client, async () => {
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
	});
}

/** (c) connection-guard. */
export function guarded(client: DemoClient): RedisConnectionSource<DemoClient> {
	return guardedRedis(client);
}

export const variants: Record<VariantName, (client: DemoClient) => RedisConnectionSource<DemoClient>> = {
	naive,
	connectingPromise,
	guarded,
};
