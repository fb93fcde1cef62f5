import type {ClientAdapter, EventEmitterLike} from '../client-adapter.js';
import {describeNodeRedis} from '../describe-server.js';
import {messageOf} from '../errors.js';
import {isObject} from '../options.js';

const noop = () => undefined;
// What node-redis rejects in-flight commands with when their socket drops: its own errors for a socket that closed or
// went silent past `socketTimeout` (classes that leave `name` at 'Error'), or the socket's.
// `DisconnectsClientError`: what `destroy()` rejects them with (the dead-connection rule's drop).
const socketErrorClasses = new Set(['SocketClosedUnexpectedlyError', 'SocketTimeoutError', 'DisconnectsClientError']);
const droppedCodes = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
const isDroppedSocket = (error: unknown): boolean => isObject(error) && (droppedCodes.has(String(error.code))
	|| socketErrorClasses.has(String((error.constructor as {name?: unknown} | undefined)?.name)));

export type NodeRedisLike = EventEmitterLike & {
	readonly isOpen: boolean;
	/** Missing on a node-redis 5 cluster: its `masters` say when its slots are known. */
	readonly isReady?: boolean;
	readonly masters?: readonly unknown[];
	connect(): Promise<unknown>;
	close?: () => Promise<unknown>;
	destroy?: () => unknown;
	disconnect?: () => Promise<unknown>;
	options?: unknown;
	_options?: {rootNodes?: unknown; defaults?: {socket?: {tls?: unknown}}};
	getMasterNode?: () => unknown;
	getSentinelNode?: () => unknown;
	ping?: () => Promise<unknown>;
};

/*
node-redis (`redis` v5+, `@redis/client`): `createClient()` and `createCluster()`. State is two booleans: `isOpen` turns
true synchronously in `connect()` (and stays true while node-redis retries inside that same pending `connect()`),
`isReady` after the handshake (for a cluster, after slot discovery). `close()` clears `isOpen` at once and `isReady`
once the socket drained. A node-redis 5 cluster has no `isReady`: its slots are known once it has `masters` (filled
when discovery succeeds, emptied when it closes; a rediscovery refills them in the same tick).

The booleans cannot tell a try under way from the wait between two tries, so the adapter reads that off the events while
subscribed: a try failed when `error` comes while open and not ready; the next one starts with `reconnecting`.
Unsubscribed (nobody has asked yet), an open client that is not ready counts as connecting.
*/
export function nodeRedisAdapter(client: NodeRedisLike): ClientAdapter {
	// A cluster does not retry its discovery inside connect(): an `error` there is followed by connect() rejecting.
	const retriesInsideConnect = !Array.isArray(client._options?.rootNodes);
	let betweenTries = false;
	const slotsKnown = typeof client.isReady === 'boolean' ? () => client.isReady === true : () => (client.masters?.length ?? 0) > 0;
	const ready = () => client.isOpen && slotsKnown();
	return {
		isReady: ready,
		phase() {
			if (client.isOpen) {
				return slotsKnown() ? 'ready' : (betweenTries ? 'retrying' : 'connecting');
			}

			// A graceful close() drains pending replies with `isReady` still true: wait for its `end`.
			return client.isReady ? 'closing' : 'idle';
		},
		connect: async () => client.connect(),
		// `Socket already opened` (a client), `Cluster already open` (a cluster).
		isAlreadyConnecting: error => /already open/i.test(messageOf(error)),
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

			// node-redis 6 emits `terminated(cause)` when its strategy gives up, before `error(cause)`: take the cause from
			// here, or the guard would settle on `terminated` without knowing why. A strategy that returned an Error wraps the
			// socket's.
			const onTerminated = (cause: unknown) => {
				betweenTries = false;
				if (cause !== undefined) {
					onError((cause as {socketError?: unknown} | null)?.socketError ?? cause);
				}

				onChange();
			};

			// `connect`/`ready` (a cluster emits only `connect`), `end`/`disconnect` when closed, `reconnecting` when a try
			// starts.
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
		// node-redis rejects the commands a dropped socket had sent, at once and with the socket's error: nothing to watch.
		onConnectionLost: () => noop,
		isConnectionLost: isDroppedSocket,
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
			} catch {
				// Nothing left to stop.
			}
		},
		// The dead-connection rule. node-redis keeps its socket private: the rule counts the replies run() sees, and drops
		// the connection with `destroy()` and a new `connect()` (the public way; a graceful close() would wait on the dead
		// socket). Not for a cluster: its nodes' clients are out of reach here.
		connections: () => Array.isArray(client._options?.rootNodes) || !ready() ? [] : [{
			key: client,
			server: describeNodeRedis(client),
			wholeClient: true,
			received: undefined,
			hasWaiting: () => true,
			drop() {
				try {
					client.destroy?.();
				} finally {
					client.connect().catch(noop);
				}
			},
			ping: async () => client.ping?.(),
		}],
	};
}
