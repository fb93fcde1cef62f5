/*
Retry delays with jitter: the guard's own retries for wait-for-ready callers, and `backoffWithJitter()` for the clients'
own `retryStrategy` / `reconnectStrategy`. Without jitter every app instance retries in lockstep after an outage, and
the recovering server meets all of them at once.
*/
import {invalidOptionsObject, unknownOption} from './options.js';

/** Equal jitter: a delay drawn evenly from [delay / 2, delay]; never 0, and different in every process. */
const jittered = (delayMs: number): number => (delayMs / 2) + (Math.random() * delayMs / 2);

/**
Options for {@link backoffWithJitter}.

@example
```
const retryStrategy = backoffWithJitter({firstDelayMs: 100, maxDelayMs: 5000});
```
*/
export type BackoffOptions = {
	/**
	The delay before the first retry, in ms, before jitter. Doubles with every retry.

	@default 50
	*/
	readonly firstDelayMs?: number;

	/**
	The longest delay, in ms, before jitter.

	@default 2000
	*/
	readonly maxDelayMs?: number;
};

const backoffOptions = ['firstDelayMs', 'maxDelayMs'] as const;

function checkDelay(value: unknown, name: string): number | undefined {
	if (value === undefined) {
		return undefined;
	}

	if (typeof value !== 'number') {
		throw new TypeError(`Expected \`${name}\` to be a number of milliseconds, got \`${typeof value}\``);
	}

	if (!Number.isFinite(value) || value <= 0) {
		throw new RangeError(`Expected \`${name}\` to be a positive, finite number of milliseconds, got \`${value}\``);
	}

	return value;
}

/**
A retry delay function for the client's own reconnects: exponential (`firstDelayMs`, doubling, at most `maxDelayMs`),
each delay drawn evenly from its upper half, so that app instances restarted together do not retry together. Fits
ioredis's and iovalkey's `retryStrategy(times)` (and `clusterRetryStrategy`) and node-redis's
`socket.reconnectStrategy(retries)`; it never gives up (the guard's deadlines bound your callers meanwhile).

@example
```
import {Redis} from 'ioredis';
import {createClient} from 'redis';
import {backoffWithJitter} from 'connection-guard';

const redis = new Redis({lazyConnect: true, retryStrategy: backoffWithJitter()});
const nodeRedis = createClient({socket: {reconnectStrategy: backoffWithJitter({maxDelayMs: 5000})}});
```
*/
export function backoffWithJitter(options: BackoffOptions = {}): (attempt: number) => number {
	const invalid = invalidOptionsObject(options) ?? unknownOption(options, backoffOptions);
	if (invalid) {
		throw invalid;
	}

	const firstDelayMs = checkDelay(options.firstDelayMs, 'firstDelayMs') ?? 50;
	const maxDelayMs = checkDelay(options.maxDelayMs, 'maxDelayMs') ?? Math.max(2000, firstDelayMs);
	if (maxDelayMs < firstDelayMs) {
		throw new RangeError(`Expected \`maxDelayMs\` (${maxDelayMs}) to be at least \`firstDelayMs\` (${firstDelayMs})`);
	}

	return attempt => {
		// ioredis counts its first retry as 1, node-redis as 0: both start at `firstDelayMs`.
		const doublings = Number.isNaN(attempt) ? 0 : Math.min(30, Math.max(0, Math.floor(attempt) - 1));
		return jittered(Math.min(maxDelayMs, firstDelayMs * (2 ** doublings)));
	};
}

/**
The guard's own retries, for wait-for-ready callers of a client that will not retry by itself: the first about 50 ms
after a failure, doubling to at most 1 s, each with jitter (documented in the README).
*/
export class Backoff {
	static readonly firstDelayMs = 50;
	static readonly maxDelayMs = 1000;
	/** A try failed while wait-for-ready callers waited: the next `connect()` waits for the delay. */
	due = false;
	#timer: NodeJS.Timeout | undefined;
	#delayMs = Backoff.firstDelayMs;

	/** Waiting for the delay to pass. */
	get pending(): boolean {
		return this.#timer !== undefined;
	}

	start(onElapsed: () => void): void {
		this.due = false;
		this.#timer = setTimeout(() => {
			this.#timer = undefined;
			onElapsed();
		}, jittered(this.#delayMs));
		this.#delayMs = Math.min(this.#delayMs * 2, Backoff.maxDelayMs);
	}

	cancel(): void {
		clearTimeout(this.#timer);
		this.#timer = undefined;
		this.due = false;
	}

	/** Cancel, and start again from the first delay next time. */
	reset(): void {
		this.cancel();
		this.#delayMs = Backoff.firstDelayMs;
	}
}
