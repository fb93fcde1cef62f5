import {defaultDeadConnectionMs, stopWatching, watchConnections} from './dead-connection.js';
import {abortedError, replyTimeoutError} from './errors.js';
import type {InFlight} from './in-flight.js';
import {adapterFor} from './recognise-client.js';
import {existingInFlight, inFlightOf, sharedStateOf} from './registry.js';
import {
	defaultTimeoutMs, describeValue, invalidBoolean, invalidMilliseconds, invalidOptionalMilliseconds,
	invalidOptionsObject, invalidSignal, unknownOption,
} from './options.js';
import {ensureConnectedChannel, hasSubscribers} from './tracing.js';

/**
Options for {@link guardedRedis}: defaults for every `ensureConnected()` call of the guard.

@example
```
const redis = guardedRedis(client, {timeoutMs: 2000});
const worker = guardedRedis(client, {timeoutMs: 30_000, waitForReady: true});
```
*/
export type GuardedRedisOptions = {
	/**
	Default deadline, in milliseconds, for each `ensureConnected()` call. `Infinity` waits without a deadline.

	@default 5000
	*/
	readonly timeoutMs?: number;

	/**
	Default mode of each `ensureConnected()` call: `false` fails fast, `true` waits through failed tries until the
	deadline. See {@link EnsureConnectedOptions.waitForReady}.

	@default false
	*/
	readonly waitForReady?: boolean;

	/**
	The dead-connection rule: a `ready` connection that has received nothing at all for this long while `run()`'s
	commands waited on it (judged when one of them reaches its deadline) is dropped, and the client reconnects; meanwhile
	fail-fast `ensureConnected()` calls get `CONNECT_FAILED` with a `DEAD_CONNECTION` cause. A command that keeps the
	connection busy longer (a long script, a big `KEYS`) looks the same: keep this above your slowest command. `false`
	or `Infinity` turns it off. The rule is per client: the smallest value of its guards applies. See
	docs/failure-behaviour.md.

	@default twice `timeoutMs`, at least 1000
	*/
	readonly deadConnectionMs?: number | false;

	/**
	Send one `PING` (under `timeoutMs`, like a command of `run()`) on a ready connection that has received nothing for
	this long, so that a dead one is found by the rule before a request pays for it. One timer per client, unref'd,
	cleared by `close()`. `false` or `Infinity`: no heartbeat.

	@default false
	*/
	readonly heartbeatMs?: number | false;
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

	/**
	`false` (fail fast): reject with `CONNECT_FAILED` as soon as the client is known to be failing — the try this call
	waits on fails, or the client is between tries — never waiting for a backoff timer. `TIMEOUT` only when a try is under
	way and does not finish by the deadline (a frozen server). For request paths with a fallback.

	`true` (wait for ready, as gRPC's call option of that name): wait through failed tries until the client is ready or the
	deadline passes (`TIMEOUT`, with the last error as `cause`). A client that retries by itself is left to it; one that
	will not (ioredis `retryStrategy` returning `null`, node-redis `reconnectStrategy: false`, a cluster whose discovery
	failed) is retried by the guard, one `connect()` at a time for all waiters, 50 ms after a failure, doubling to at most
	1 s, while any such caller waits. For startup gates, workers and health checks.

	@default the guard's `waitForReady` (`false`)
	*/
	readonly waitForReady?: boolean;
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
	Resolve with the client once it is ready, connecting it if needed — at most one `connect()` per client at a time,
	shared by every concurrent caller of every guard of that client. Rejects with a {@link ConnectionGuardError}.
	*/
	ensureConnected(options?: EnsureConnectedOptions): Promise<C>;

	/**
	`ensureConnected(options)`, then `fn(client)`, under one deadline for both: resolves with what `fn` returns. Rejects
	with a {@link ConnectionGuardError} — `TIMEOUT` when `timeoutMs` passes (connecting, or waiting for the reply of a
	frozen server), `CONNECTION_LOST` at once when the connection the command went out on closes before the reply,
	`ABORTED`, `CONNECT_FAILED`, `CLOSED` — or with `fn`'s own error (a `ReplyError` such as `WRONGTYPE`), unchanged.
	On a ready client it adds no timer and no listener per call.
	*/
	run<T>(fn: (client: C) => T | PromiseLike<T>, options?: EnsureConnectedOptions): Promise<T>;

	/**
	Quit the client (gracefully when it is connected) and resolve once it has ended. Afterwards every `ensureConnected()`
	of every guard of this client, from any copy of the package, rejects with code `CLOSED`. Calling it again returns the
	same promise.
	*/
	close(): Promise<void>;
};

/**
The smallest shape `guardedRedis` accepts at the type level; the runtime check is stricter: it recognises ioredis and
iovalkey `Redis` and `Cluster` by their `status`, node-redis clients and clusters by `isOpen`/`isReady`, and
ioredis-mock by its `connected`.

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

/**
Wrap an existing Redis client so that `ensureConnected()` is race-free.

Any number of concurrent callers share one `client.connect()`; a client that is already connecting (its constructor, a
lazy first command, or its own retry) is waited for without calling `connect()`; a failure reaches every fail-fast
waiter of that try as one `ConnectionGuardError`, and the next call starts afresh. Every guard of the same client — from
any copy of this package in the process — shares one state.

Supports ioredis and iovalkey `Redis` and `Cluster`, node-redis `createClient` and `createCluster` (v5, v6), and
ioredis-mock, recognised by shape.

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

	const invalid = invalidOptionsObject(options) ?? unknownOption(options, guardOptions)
		?? invalidMilliseconds(options.timeoutMs, 'timeoutMs') ?? invalidBoolean(options.waitForReady, 'waitForReady')
		?? invalidOptionalMilliseconds(options.deadConnectionMs, 'deadConnectionMs')
		?? invalidOptionalMilliseconds(options.heartbeatMs, 'heartbeatMs');
	if (invalid) {
		throw invalid;
	}

	const defaultTimeout = options.timeoutMs ?? defaultTimeoutMs;
	const defaultWaitForReady = options.waitForReady ?? false;
	const state = sharedStateOf(client, adapter);
	let inFlight: InFlight | undefined;
	watchConnections(client, adapter, state, inFlightOf(client, adapter), {
		deadConnectionMs: options.deadConnectionMs === false ? Number.POSITIVE_INFINITY
			: options.deadConnectionMs ?? defaultDeadConnectionMs(defaultTimeout),
		heartbeatMs: options.heartbeatMs === false ? Number.POSITIVE_INFINITY
			: options.heartbeatMs ?? Number.POSITIVE_INFINITY,
		timeoutMs: defaultTimeout,
	});

	// Not ready: wait (the trace, when anyone listens, is the call's); the caller has checked the options.
	const waitUntilReady = (timeoutMs: number, signal: AbortSignal | undefined, waitForReady: boolean): Promise<C> => {
		if (hasSubscribers(ensureConnectedChannel)) {
			const trace = {server: state.describe(), timeoutMs, waitForReady, attempts: []};
			return ensureConnectedChannel.tracePromise(
				() => state.wait(timeoutMs, signal, waitForReady, trace),
				trace,
			) as Promise<C>;
		}

		return state.wait(timeoutMs, signal, waitForReady) as Promise<C>;
	};

	// `run()` past the ready check: the signal, and first the wait when the client is not ready; one deadline for both.
	const runWhenReady = async <T>(
		fn: (client: C) => T | PromiseLike<T>,
		commands: InFlight,
		timeoutMs: number,
		callOptions: EnsureConnectedOptions | undefined,
	): Promise<T> => {
		const startedAt = performance.now();
		const signal = callOptions?.signal;
		if (!state.isReady()) {
			await waitUntilReady(timeoutMs, signal, callOptions?.waitForReady ?? defaultWaitForReady);
			// Ready just as the deadline passed: the command is never sent late.
			if (performance.now() - startedAt >= timeoutMs) {
				throw replyTimeoutError(state.describe(), timeoutMs);
			}
		}

		if (!signal) {
			return commands.send(fn, client, timeoutMs, startedAt);
		}

		if (signal.aborted) {
			throw abortedError(signal);
		}

		// The caller chose a signal: one listener for this call, removed when it settles.
		let onAbort!: () => void;
		const aborted = new Promise<never>((_resolve, reject) => {
			onAbort = () => {
				reject(abortedError(signal));
			};
		});
		signal.addEventListener('abort', onAbort, {once: true});
		try {
			return await Promise.race([commands.send(fn, client, timeoutMs, startedAt), aborted]);
		} finally {
			signal.removeEventListener('abort', onAbort);
		}
	};

	return {
		client,
		get isReady() {
			return state.isReady();
		},
		ensureConnected(callOptions?: EnsureConnectedOptions): Promise<C> {
			// Validation is a few typeof checks and allocates nothing unless the options are bad.
			const invalidCall = invalidCallOptions(callOptions);
			if (invalidCall) {
				return Promise.reject(invalidCall);
			}

			if (state.isReady()) {
				return state.readyPromise as Promise<C>;
			}

			return waitUntilReady(
				callOptions?.timeoutMs ?? defaultTimeout, callOptions?.signal, callOptions?.waitForReady ?? defaultWaitForReady,
			);
		},
		run<T>(fn: (client: C) => T | PromiseLike<T>, callOptions?: EnsureConnectedOptions): Promise<T> {
			if (typeof fn !== 'function') {
				return Promise.reject(new TypeError(`Expected \`fn\` to be a function, got \`${describeValue(fn)}\``));
			}

			const invalidCall = invalidCallOptions(callOptions);
			if (invalidCall) {
				return Promise.reject(invalidCall);
			}

			inFlight ??= inFlightOf(client, adapter);
			const timeoutMs = callOptions?.timeoutMs ?? defaultTimeout;
			// The hot path: a ready client and no signal. One promise and one linked entry; no timer, no listener.
			if (callOptions?.signal === undefined && state.isReady()) {
				return inFlight.send(fn, client, timeoutMs);
			}

			return runWhenReady(fn, inFlight, timeoutMs, callOptions);
		},
		close() {
			stopWatching(client);
			existingInFlight(client)?.close();
			return state.close(defaultTimeout);
		},
	};
}

const guardOptions = ['timeoutMs', 'waitForReady', 'deadConnectionMs', 'heartbeatMs'] as const;
const callOptionNames = ['timeoutMs', 'signal', 'waitForReady'] as const;

function invalidCallOptions(options: EnsureConnectedOptions | undefined): TypeError | RangeError | undefined {
	if (options === undefined) {
		return undefined;
	}

	return invalidOptionsObject(options) ?? unknownOption(options, callOptionNames)
		?? invalidMilliseconds(options.timeoutMs, 'timeoutMs') ?? invalidSignal(options.signal)
		?? invalidBoolean(options.waitForReady, 'waitForReady');
}
