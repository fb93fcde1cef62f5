/*
How the guard reads and drives one kind of client: ioredis `Redis` and `Cluster` (and iovalkey), node-redis clients and
clusters, ioredis-mock. Clients are recognised by shape, never with `instanceof`, so the package has no runtime dependency
on any client library and works across duplicated installs.

This is hand-written because no library exposes "the phase of a Redis client": each client spells its state differently
(ioredis `status`, node-redis `isOpen`/`isReady` plus its events, ioredis-mock `connected`), and the guard needs one
vocabulary to decide between connecting, waiting and failing fast.
*/
import {describeAddress, describeIORedis, describeNodeRedis} from './describe-server.js';

/**
- `ready`: commands go through now.
- `idle`: nothing is connecting and nothing will by itself: a `connect()` is needed (lazy `wait`, or `end`).
- `connecting`: a connection attempt is under way: wait for it, never call `connect()`.
- `retrying`: the client is between its own tries (a retry timer is pending): it is failing now; never call `connect()`.
- `closing`: the client is shutting down (QUIT sent, socket still open): wait for it to end, then connect.
*/
export type Phase = 'ready' | 'idle' | 'connecting' | 'retrying' | 'closing';

export type ClientAdapter = {
	/** True when commands go through now. The hot path: no allocation. */
	isReady(): boolean;
	phase(): Phase;
	/** Start a connection. May throw synchronously or reject. */
	connect(): unknown;
	/**
	Call `onChange` after every event after which `phase()` may have changed, and `onError` with every error the client
	reports (before the `onChange` of the same event). Returns the function that removes every listener it added. Only one
	subscription at a time: some clients (node-redis) are only fully readable while subscribed.
	*/
	subscribe(onChange: () => void, onError: (error: unknown) => void): () => void;
	/** The server(s) the client talks to, for error messages. */
	describe(): string;
	/** Stop for good, gracefully when possible; resolves when the client has ended, or after `timeoutMs` at the latest. */
	close(timeoutMs: number): Promise<void>;
};

// The minimal surface every supported client shares.
export type EventEmitterLike = {
	on(event: string, listener: (...arguments_: any[]) => void): unknown;
	removeListener(event: string, listener: (...arguments_: any[]) => void): unknown;
};

type IORedisLike = EventEmitterLike & {
	status: string;
	connect(): Promise<unknown>;
	// Only close() uses these; a client without them (a test double) is still guarded.
	quit?: () => Promise<unknown>;
	disconnect?: (reconnect?: boolean) => void;
	isCluster?: boolean;
	options?: unknown;
	startupNodes?: unknown[];
	// Private in ioredis' types; read only to tell "QUIT sent, socket not closed yet" apart from `ready`.
	manuallyClosing?: boolean;
	stream?: {destroy?: () => void};
	setStatus?: (status: string) => void;
	flushQueue?: (error: Error) => void;
};

type NodeRedisLike = EventEmitterLike & {
	readonly isOpen: boolean;
	readonly isReady: boolean;
	connect(): Promise<unknown>;
	close?: () => Promise<unknown>;
	destroy?: () => unknown;
	disconnect?: () => Promise<unknown>;
	options?: unknown;
	_options?: {rootNodes?: unknown; defaults?: {socket?: {tls?: unknown}}};
	getMasterNode?: () => unknown;
	getSentinelNode?: () => unknown;
};

type IORedisMockLike = EventEmitterLike & {
	connected: boolean;
	connect(): unknown;
	disconnect?: () => void;
	options?: unknown;
};

const isObject = (value: unknown): value is Record<string, unknown> =>
	(typeof value === 'object' || typeof value === 'function') && value !== null;

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

	if (typeof client.isOpen === 'boolean' && typeof client.isReady === 'boolean') {
		return nodeRedisAdapter(client as unknown as NodeRedisLike);
	}

	return undefined;
}

/** Call `onChange` on each of `changeEvents` and `onErrorEvent` on `error`, until the returned function is called. */
function subscribeTo(
	emitter: EventEmitterLike,
	changeEvents: readonly string[],
	onChange: () => void,
	onErrorEvent: (error: unknown) => void,
): () => void {
	for (const event of changeEvents) {
		emitter.on(event, onChange);
	}

	emitter.on('error', onErrorEvent);
	return () => {
		for (const event of changeEvents) {
			emitter.removeListener(event, onChange);
		}

		emitter.removeListener('error', onErrorEvent);
	};
}

/** Wait for one of `events` on `emitter`, at most `ms`; resolves `true` if an event came. Leaves nothing attached. */
export function waitForEvent(emitter: EventEmitterLike, events: readonly string[], ms: number): Promise<boolean> {
	return new Promise(resolve => {
		const done = (value: boolean) => {
			clearTimeout(timer);
			for (const event of events) {
				emitter.removeListener(event, onEvent);
			}

			resolve(value);
		};

		const onEvent = () => {
			done(true);
		};

		const timer = setTimeout(done, ms, false);
		for (const event of events) {
			emitter.on(event, onEvent);
		}
	});
}

// ioredis `Redis` and `Cluster` (v5 and v6) share the status names; Cluster adds `disconnecting`.
function ioredisAdapter(client: IORedisLike): ClientAdapter {
	// A client with `sentinels` retries inside one try when all sentinels are unreachable, status still `connecting`
	// ("All sentinels are unreachable. Retrying from scratch after …"): its `error` says that try failed, and only the next
	// status event says a new one is under way. Known only while subscribed. (Other clients change status when a try
	// fails.)
	const retriesInsideConnect = Array.isArray((client.options as {sentinels?: unknown} | undefined)?.sentinels);
	let failedTry = false;
	// A Cluster's `close` after its `end` (see `phase`). Unsubscribed, a Cluster found at `close` counts as that: the
	// passing `close` of a live Cluster lasts one tick.
	let closedAfterEnd = false;
	const phase = (): Phase => {
		switch (client.status) {
			case 'ready': {
				return client.manuallyClosing === true ? 'closing' : 'ready';
			}

			case 'wait':
			case 'end': {
				return 'idle';
			}

			case 'close': {
				// On the way to `reconnecting` or `end`. But a Cluster whose nodes all went away after `end` sets `close` once
				// more from its pool's `drain` and stays there (ioredis 5.11, 6.0; iovalkey): nothing runs then, and
				// connect() is accepted.
				return closedAfterEnd ? 'idle' : 'closing';
			}

			case 'connecting':
			case 'connect': {
				return failedTry ? 'retrying' : 'connecting';
			}

			case 'reconnecting': {
				return 'retrying';
			}

			default: {
				// Cluster's `disconnecting`, or a status we don't know.
				return 'closing';
			}
		}
	};

	const ended = () => client.status === 'end';

	// ioredis' `disconnect()` while a retry timer is pending clears the timer but never reaches `end`: the socket is already
	// closed, so no `close` event comes (measured on 5.x and 6.x; Cluster stops at `disconnecting` the same way). Nothing is
	// left running then, so finish the transition the way ioredis' own close handler does.
	const finishStuckDisconnect = () => {
		if (!ended() && (client.status === 'reconnecting' || client.status === 'disconnecting' || client.status === 'close')
			&& typeof client.setStatus === 'function') {
			client.setStatus('end');
			client.flushQueue?.(new Error('Connection is closed.'));
		}
	};

	return {
		isReady: () => client.status === 'ready' && client.manuallyClosing !== true,
		phase,
		connect: () => client.connect(),
		subscribe(onChange, onError) {
			failedTry = false;
			closedAfterEnd = client.isCluster === true && client.status === 'close';
			let ended = false;
			const onStatus = () => {
				failedTry = false;
				// Status events come a tick late: read the status, not the event, as everywhere here.
				if (client.status === 'end') {
					ended = true;
				} else if (client.status === 'connecting') {
					ended = false;
				}

				closedAfterEnd = client.isCluster === true && client.status === 'close' && ended;
				onChange();
			};

			return subscribeTo(client, ['connecting', 'connect', 'ready', 'close', 'reconnecting', 'end', 'wait'], onStatus, error => {
				failedTry = retriesInsideConnect && (client.status === 'connecting' || client.status === 'connect');
				onError(error);
				onChange();
			});
		},
		describe: () => describeIORedis(client),
		async close(timeoutMs) {
			if (ended()) {
				return;
			}

			if (phase() === 'ready' && typeof client.quit === 'function') {
				const quitEnded = waitForEvent(client, ['end'], timeoutMs);
				client.quit().catch(() => undefined);
				if (await quitEnded || ended()) {
					return;
				}
			}

			// Not connected, or QUIT got no answer in time (a frozen server): drop the socket.
			const disconnectEnded = waitForEvent(client, ['end'], timeoutMs);
			client.disconnect?.();
			finishStuckDisconnect();
			if (!ended()) {
				// `disconnect()` only half-closes the socket; a frozen peer never finishes the close. Destroy it.
				client.stream?.destroy?.();
			}

			await disconnectEnded;
			finishStuckDisconnect();
		},
	};
}

// ioredis-mock 8: no `status`, a boolean `connected`; `connect()` throws (or rejects) when already connected.
function ioredisMockAdapter(client: IORedisMockLike): ClientAdapter {
	return {
		isReady: () => client.connected,
		phase: () => client.connected ? 'ready' : 'idle',
		connect: () => client.connect(),
		subscribe: (onChange, onError) => subscribeTo(client, ['connect', 'ready', 'end'], onChange, error => {
			onError(error);
			onChange();
		}),
		describe: () => `ioredis-mock ${describeAddress(client.options ?? {})}`,
		async close() {
			if (client.connected) {
				client.disconnect?.();
			}
		},
	};
}

/*
node-redis (`redis` v5+, `@redis/client`): `createClient()` and `createCluster()`. State is two booleans: `isOpen` turns true
synchronously in `connect()` (and stays true while node-redis retries inside that same pending `connect()`), `isReady` after
the handshake (for a cluster, after slot discovery). `close()` clears `isOpen` at once and `isReady` once the socket drained.

The booleans cannot tell a try under way from the wait between two tries, so the adapter reads that off the events while
subscribed: a try failed when `error` comes while open and not ready; the next one starts with `reconnecting`. Unsubscribed
(nobody has asked yet), an open client that is not ready counts as connecting.
*/
function nodeRedisAdapter(client: NodeRedisLike): ClientAdapter {
	// A cluster does not retry its discovery inside connect(): an `error` there is followed by connect() rejecting.
	const retriesInsideConnect = !Array.isArray(client._options?.rootNodes);
	let betweenTries = false;
	const ready = () => client.isOpen && client.isReady;
	return {
		isReady: ready,
		phase() {
			if (client.isOpen) {
				return client.isReady ? 'ready' : (betweenTries ? 'retrying' : 'connecting');
			}

			// A graceful close() drains pending replies with `isReady` still true: wait for its `end`.
			return client.isReady ? 'closing' : 'idle';
		},
		connect: async () => client.connect(),
		subscribe(onChange, onError) {
			betweenTries = false;
			const onTryStarted = () => {
				betweenTries = false;
				onChange();
			};

			const onErrorEvent = (error: unknown) => {
				betweenTries = retriesInsideConnect && client.isOpen && !client.isReady;
				onError(error);
				onChange();
			};

			// node-redis 6 emits `terminated(cause)` when its strategy gives up, before `error(cause)`: take the cause from here,
			// or the guard would settle on `terminated` without knowing why. A strategy that returned an Error wraps the socket's.
			const onTerminated = (cause: unknown) => {
				betweenTries = false;
				if (cause !== undefined) {
					onError((cause as {socketError?: unknown} | null)?.socketError ?? cause);
				}

				onChange();
			};

			// `connect`/`ready` (a cluster emits only `connect`), `end`/`disconnect` when closed, `reconnecting` when a try starts.
			const tryEvents = ['connect', 'ready', 'reconnecting', 'end', 'disconnect'];
			for (const event of tryEvents) {
				client.on(event, onTryStarted);
			}

			client.on('error', onErrorEvent);
			client.on('terminated', onTerminated);
			return () => {
				for (const event of tryEvents) {
					client.removeListener(event, onTryStarted);
				}

				client.removeListener('error', onErrorEvent);
				client.removeListener('terminated', onTerminated);
			};
		},
		describe: () => describeNodeRedis(client),
		async close(timeoutMs) {
			if (client.isOpen && typeof client.close === 'function') {
				let timer: NodeJS.Timeout | undefined;
				const closed = await Promise.race([
					client.close().then(() => true, () => false),
					new Promise<boolean>(resolve => {
						timer = setTimeout(resolve, timeoutMs, false);
					}),
				]);
				clearTimeout(timer);
				if (closed) {
					return;
				}
			}

			// Not open (retries gave up, or never connected), or close() did not drain in time: destroy is immediate.
			// node-redis 5 throws "The client is closed" from destroy() on a client that is not open: nothing to do then.
			try {
				if (typeof client.destroy === 'function') {
					client.destroy();
				} else {
					await client.disconnect?.();
				}
			} catch {}
		},
	};
}
