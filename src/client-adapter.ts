/*
The vocabulary between the guard and a client: one phase for every client's own way of spelling its state (ioredis
`status`, node-redis `isOpen`/`isReady` plus its events, ioredis-mock `connected`), and the small event helpers the
adapters share. Each kind of client has its own adapter in `adapters/`; everything client-specific lives there.
*/

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
	Whether an error from `connect()` only says that a connection is already under way, in the client's own words: the
	guard meets it only when a connect was started elsewhere in the same tick, waits for that one, and never shows it.
	*/
	isAlreadyConnecting(error: unknown): boolean;
	/**
	Call `onChange` after every event after which `phase()` may have changed, and `onError` with every error the client
	reports (before the `onChange` of the same event). Returns the function that removes every listener it added. Only one
	subscription at a time: some clients (node-redis) are only fully readable while subscribed.
	*/
	subscribe(onChange: () => void, onError: (error: unknown) => void): () => void;
	/**
	Call `onLost` whenever the connection commands went out on closes, for clients that keep such commands unanswered
	(ioredis holds them to resend, or drops them without a word when it must not); `guard.run()` releases them. Returns
	the function that removes what it added.
	*/
	onConnectionLost(onLost: (cause: unknown) => void): () => void;
	/** Whether a command's error says that its connection closed before the reply: a cluster node's drop, a flush. */
	isConnectionLost(error: unknown): boolean;
	/** The server(s) the client talks to, for error messages. */
	describe(): string;
	/** Stop for good, gracefully when possible; resolves when the client has ended, or after `timeoutMs` at the latest. */
	close(timeoutMs: number): Promise<void>;
	/**
	The ready connections commands go out on now, for the dead-connection rule (`dead-connection.ts`): the client's one
	socket, or each node's of a Cluster. Missing, or empty, where the adapter cannot reach them (the rule is off then).
	*/
	connections?: () => readonly WatchedConnection[];
};

/** One connection the dead-connection rule watches. Made per look: `key` says which socket it is. */
export type WatchedConnection = {
	/** The same object for as long as this socket lives (a new one after a reconnect). */
	readonly key: object;
	/** `host:port`, for messages. */
	readonly server: string;
	/** `true` for the client's only connection, `false` for one node of a Cluster. */
	readonly wholeClient: boolean;
	/**
	A count that grows whenever the connection receives anything (bytes read); missing where the socket cannot be read
	(then the rule counts the replies `run()` sees).
	*/
	readonly received: (() => number) | undefined;
	/** Whether commands were sent on it and not answered yet, when the client can say (else `true`). */
	hasWaiting(): boolean;
	/**
	Drop this socket so that the client reconnects (only this node's, for a Cluster). The commands waiting on it are
	rejected with `cause` (code `DEAD_CONNECTION`), never resent: their callers have had their `TIMEOUT` already, and a
	resent `INCR` would count twice.
	*/
	drop(cause: Error): void;
	/** PING on this connection (the heartbeat). */
	ping(): Promise<unknown>;
};

// The minimal surface every supported client shares.
export type EventEmitterLike = {
	on(event: string, listener: (...arguments_: any[]) => void): unknown;
	removeListener(event: string, listener: (...arguments_: any[]) => void): unknown;
};

/** Call `onChange` on each of `changeEvents` and `onErrorEvent` on `error`, until the returned function is called. */
export function subscribeTo(
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
