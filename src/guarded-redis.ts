import {adapterFor, type ClientAdapter, type EventEmitterLike} from './client-adapter.js';
import {ConnectionGuardError} from './errors.js';
import {singleFlight} from './single-flight.js';

/**
Options for {@link guardedRedis}.

@example
```
const redis = guardedRedis(client, {timeoutMs: 2000});
```
*/
export type GuardedRedisOptions = {
	/**
	Default deadline, in milliseconds, for each `ensureConnected()` call. `Infinity` waits without a deadline.

	@default 5000
	*/
	readonly timeoutMs?: number;
};

/**
Options for one {@link RedisGuard.ensureConnected} call.

@example
```
app.get('/hits', async (request, response) => {
	const controller = new AbortController();
	request.on('close', () => controller.abort());
	const client = await redis.ensureConnected({timeoutMs: 250, signal: controller.signal});
	response.json({hits: await client.incr('hits')});
});
```
*/
export type EnsureConnectedOptions = {
	/**
	Deadline for this call, in milliseconds; rejects with code `TIMEOUT` when it passes. It ends this caller's wait only:
	the shared connection attempt goes on for the other callers. `Infinity` waits without a deadline.

	@default the guard's `timeoutMs` (5000)
	*/
	readonly timeoutMs?: number;

	/** Rejects this call at once with code `ABORTED` when aborted; an already-aborted signal starts no connection. */
	readonly signal?: AbortSignal;
};

/**
A race-free handle on one Redis client. Create it with {@link guardedRedis}.

@example
```
const redis: RedisGuard<Redis> = guardedRedis(new Redis({lazyConnect: true}));
if (!redis.isReady) {
	await redis.ensureConnected();
}

await redis.close(); // on shutdown
```
*/
export type RedisGuard<C> = {
	/** The wrapped client, as given. */
	readonly client: C;

	/** `true` when the client is ready for commands now (and the guard is not closed). */
	readonly isReady: boolean;

	/**
	Resolve with the client once it is ready, connecting it if needed — at most one `connect()` per client at a time, shared
	by every concurrent caller of every guard of that client. Rejects with a {@link ConnectionGuardError}.
	*/
	ensureConnected(options?: EnsureConnectedOptions): Promise<C>;

	/**
	Quit the client (gracefully when it is connected) and resolve once it has ended. Afterwards every `ensureConnected()`
	of every guard of this client rejects with code `CLOSED`. Calling it again returns the same promise.
	*/
	close(): Promise<void>;
};

/**
The smallest shape `guardedRedis` accepts at the type level; the runtime check is stricter (it recognises ioredis `Redis`
and `Cluster` by their `status`, ioredis-mock by its `connected`).

@example
```
function withGuard<C extends RedisLikeClient>(client: C) {
	return guardedRedis(client);
}
```
*/
export type RedisLikeClient = {
	connect(...arguments_: any[]): unknown;
	on(event: any, listener: (...arguments_: any[]) => void): unknown;
};

const defaultTimeoutMs = 5000;
// `setTimeout` fires after 1 ms for longer delays (with a TimeoutOverflowWarning); anything longer waits without a timer.
const maxTimerMs = 2_147_483_647;

// One state per client, shared by every guard of it: two guards must never connect the same client twice.
type SharedState = {
	readonly adapter: ClientAdapter;
	readonly readyPromise: Promise<unknown>;
	waitUntilReady: () => Promise<void>;
	cancelAttempt: ((error: ConnectionGuardError) => void) | undefined;
	/** The client's last error during the current attempt: the `cause` of a TIMEOUT, to tell "slow" from "failing". */
	lastError: unknown;
	closing: Promise<void> | undefined;
};

const states = new WeakMap<object, SharedState>();

const closedError = (adapter: ClientAdapter) =>
	new ConnectionGuardError('CLOSED', `The connection guard for Redis at ${adapter.describe()} was closed`);

const describeValue = (value: unknown) => value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;

function timeoutError(timeoutMs: unknown, name: string): Error | undefined {
	if (timeoutMs === undefined) {
		return undefined;
	}

	if (typeof timeoutMs !== 'number') {
		return new TypeError(`Expected \`${name}\` to be a number, got \`${describeValue(timeoutMs)}\``);
	}

	if (Number.isNaN(timeoutMs) || timeoutMs < 0) {
		return new RangeError(`Expected \`${name}\` to be a non-negative number of milliseconds or \`Infinity\`, got \`${timeoutMs}\``);
	}

	return undefined;
}

function isAbortSignal(value: unknown): value is AbortSignal {
	return typeof value === 'object' && value !== null
		&& typeof (value as AbortSignal).aborted === 'boolean'
		&& typeof (value as AbortSignal).addEventListener === 'function'
		&& typeof (value as AbortSignal).removeEventListener === 'function';
}

// Each client rejects a second `connect()` with its own message; the guard only ever meets these when a connect was
// started elsewhere in the same tick, and then waits for it. They are never shown to a caller.
const alreadyConnecting = /already connecting\/connected|Socket already opened|already open/i;

function messageOf(error: unknown): string {
	return error instanceof Error ? error.message : String(error);
}

/*
One connection attempt (or one wait for someone else's), shared by every waiter through `singleFlight`. It keeps one set of
listeners on the client for its whole life and removes them when it settles. It has no deadline of its own: callers'
deadlines end their own waits, and the attempt goes on for the others.
*/
function createAttempt(client: object, state: SharedState): () => Promise<void> {
	const {adapter} = state;
	// adapterFor() only accepts clients with on() and removeListener().
	const emitter = client as EventEmitterLike;

	return () => new Promise<void>((resolve, reject) => {
		let settled = false;
		let calledConnect = false;
		// Armed once we have seen a connection attempt under way. From then on, a client that is no longer connecting and
		// not ready means that attempt failed. The check reads the client's current phase on every event (level, not edge):
		// ioredis emits status events a tick late, so an event may be an echo of an earlier attempt.
		let armed = false;
		state.lastError = undefined;

		const fail = (cause: unknown) => {
			const reason = cause ?? new Error('Connection is closed.');
			finish(new ConnectionGuardError(
				'CONNECT_FAILED',
				`Could not connect to Redis at ${adapter.describe()}: ${messageOf(reason)}`,
				{cause: reason},
			));
		};

		const onError = (error: unknown) => {
			state.lastError = error;
		};

		const onConnectRejected = (error: unknown) => {
			if (alreadyConnecting.test(messageOf(error))) {
				// Someone else's connect won the same tick: wait for it like any other.
				step();
			} else {
				fail(state.lastError ?? error);
			}
		};

		function step() {
			if (settled) {
				return;
			}

			const phase = adapter.phase();
			if (phase === 'ready') {
				finish();
			} else if (phase === 'connecting') {
				armed = true;
			} else if (armed) {
				// `idle`, `retrying` or `closing` after an attempt we saw: it ended without becoming ready.
				fail(state.lastError);
			} else if (phase === 'idle' && !calledConnect) {
				calledConnect = true;
				let connecting: unknown;
				try {
					connecting = adapter.connect();
				} catch (error) {
					onConnectRejected(error);
					return;
				}

				armed = adapter.phase() === 'connecting';
				Promise.resolve(connecting).then(step, onConnectRejected);
			}
			// Otherwise (`retrying`, `closing`): the client is at work and its events wake us.
		}

		function finish(error?: ConnectionGuardError) {
			if (settled) {
				return;
			}

			settled = true;
			for (const event of adapter.statusEvents) {
				emitter.removeListener(event, step);
			}

			emitter.removeListener('error', onError);
			state.cancelAttempt = undefined;
			if (error) {
				reject(error);
			} else {
				resolve();
			}
		}

		for (const event of adapter.statusEvents) {
			emitter.on(event, step);
		}

		emitter.on('error', onError);
		state.cancelAttempt = finish;
		step();
	});
}

function stateFor(client: object, adapter: ClientAdapter): SharedState {
	let state = states.get(client);
	if (!state) {
		state = {
			adapter,
			// The hot path hands out this one promise: no allocation per call on a ready client.
			readyPromise: Promise.resolve(client),
			waitUntilReady: undefined as unknown as () => Promise<void>,
			cancelAttempt: undefined,
			lastError: undefined,
			closing: undefined,
		};
		state.waitUntilReady = singleFlight(createAttempt(client, state));
		states.set(client, state);
	}

	return state;
}

/**
Wrap an existing Redis client so that `ensureConnected()` is race-free.

Any number of concurrent callers share one `client.connect()`; a client that is already connecting (its constructor, a lazy
first command, or ioredis' own retry) is waited for without calling `connect()`; a failure reaches every waiter of that
attempt as one `ConnectionGuardError` and the next call starts afresh. Every guard of the same client shares one state.

Supports ioredis `Redis` and `Cluster` (v5, v6) and ioredis-mock, recognised by shape.

@param client - The client you already have. It is not copied or re-configured.
@param options - Defaults for every `ensureConnected()` call of this guard.

@example
```
import {Redis} from 'ioredis';
import {guardedRedis} from 'connection-guard';

const redis = guardedRedis(new Redis({lazyConnect: true}));

export async function handler() {
	const client = await redis.ensureConnected({timeoutMs: 1000});
	return client.incr('hits');
}
```
*/
export function guardedRedis<C extends RedisLikeClient>(client: C, options: GuardedRedisOptions = {}): RedisGuard<C> {
	const adapter = adapterFor(client);
	if (!adapter) {
		throw new TypeError(`Expected \`client\` to be a Redis client (ioredis Redis or Cluster, node-redis client or cluster, or ioredis-mock), got \`${describeValue(client)}\``);
	}

	if (options === null || typeof options !== 'object' || Array.isArray(options)) {
		throw new TypeError(`Expected \`options\` to be an object, got \`${describeValue(options)}\``);
	}

	const invalidTimeout = timeoutError(options.timeoutMs, 'timeoutMs');
	if (invalidTimeout) {
		throw invalidTimeout;
	}

	const defaultTimeout = options.timeoutMs ?? defaultTimeoutMs;
	const state = stateFor(client, adapter);

	return {
		client,
		get isReady() {
			return state.closing === undefined && adapter.isReady();
		},
		ensureConnected(callOptions?: EnsureConnectedOptions): Promise<C> {
			if (state.closing !== undefined) {
				return Promise.reject(closedError(adapter));
			}

			// Validation is a few typeof checks and allocates nothing unless the options are bad.
			if (callOptions !== undefined) {
				const invalid = callOptionsError(callOptions);
				if (invalid) {
					return Promise.reject(invalid);
				}
			}

			if (adapter.isReady()) {
				return state.readyPromise as Promise<C>;
			}

			const signal = callOptions?.signal;
			if (signal?.aborted) {
				return Promise.reject(abortedError(signal));
			}

			return waitFor(client, state, callOptions?.timeoutMs ?? defaultTimeout, signal);
		},
		close() {
			state.closing ??= closeClient(state, defaultTimeout);
			return state.closing;
		},
	};
}

// Bad arguments are programming errors: ensureConnected() rejects with the TypeError/RangeError (it never throws).
function callOptionsError(callOptions: unknown): Error | undefined {
	if (callOptions === null || typeof callOptions !== 'object' || Array.isArray(callOptions)) {
		return new TypeError(`Expected \`options\` to be an object, got \`${describeValue(callOptions)}\``);
	}

	const {timeoutMs, signal} = callOptions as Record<string, unknown>;
	if (signal !== undefined && !isAbortSignal(signal)) {
		return new TypeError(`Expected \`signal\` to be an AbortSignal, got \`${describeValue(signal)}\``);
	}

	return timeoutError(timeoutMs, 'timeoutMs');
}

function abortedError(signal: AbortSignal) {
	return new ConnectionGuardError('ABORTED', 'Waiting for Redis was aborted', {cause: signal.reason});
}

// One caller's wait on the shared attempt: its own deadline and abort, cleaned up whichever way it ends.
function waitFor<C>(client: C, state: SharedState, timeoutMs: number, signal: AbortSignal | undefined): Promise<C> {
	const attempt = state.waitUntilReady();
	return new Promise<C>((resolve, reject) => {
		let timer: NodeJS.Timeout | undefined;

		const cleanup = () => {
			clearTimeout(timer);
			signal?.removeEventListener('abort', onAbort);
		};

		function onAbort() {
			cleanup();
			reject(abortedError(signal!));
		}

		if (timeoutMs <= maxTimerMs) {
			timer = setTimeout(() => {
				cleanup();
				const {lastError} = state;
				reject(new ConnectionGuardError(
					'TIMEOUT',
					`Redis at ${state.adapter.describe()} was not ready within ${timeoutMs} ms${lastError === undefined ? '' : ` (last error: ${messageOf(lastError)})`}`,
					lastError === undefined ? undefined : {cause: lastError},
				));
			}, timeoutMs);
		}

		signal?.addEventListener('abort', onAbort, {once: true});
		attempt.then(() => {
			cleanup();
			resolve(client);
		}, (error: unknown) => {
			cleanup();
			reject(error);
		});
	});
}

async function closeClient(state: SharedState, deadlineMs: number): Promise<void> {
	state.cancelAttempt?.(closedError(state.adapter));
	// A deadline keeps close() bounded even against a frozen server; `Infinity` still gets a finite grace period.
	await state.adapter.close(Number.isFinite(deadlineMs) ? Math.min(deadlineMs, maxTimerMs) : defaultTimeoutMs);
}
