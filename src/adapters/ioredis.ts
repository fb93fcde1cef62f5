import {
	subscribeTo, waitForEvent, type ClientAdapter, type EventEmitterLike, type Phase, type WatchedConnection,
} from '../client-adapter.js';
import {describeAddress, describeIORedis} from '../describe-server.js';
import {connectionClosed, messageOf} from '../errors.js';

export type IORedisLike = EventEmitterLike & {
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
	stream?: {destroy?: () => void; resetAndDestroy?: () => unknown; bytesRead?: number; destroyed?: boolean};
	setStatus?: (status: string) => void;
	flushQueue?: (error: Error, options?: {offlineQueue?: boolean; commandQueue?: boolean}) => void;
	// The dead-connection rule: a Cluster's node connections, and what each has sent and not seen answered.
	nodes?: (role?: string) => IORedisLike[];
	commandQueue?: {readonly length: number};
	ping?: () => Promise<unknown>;
};

// One ready socket of ioredis, for the dead-connection rule: its `bytesRead` says whether anything came in, its
// `commandQueue` whether commands wait for replies. Dropped with `destroy()`: `disconnect(true)` only half-closes,
// and a dead peer never finishes the close. Its waiting commands are flushed first, with the rule's error: left in
// the queue, a `Redis` resends them after reconnecting, and a `Cluster` retries those a node rejects with "Connection
// is closed." elsewhere. And reset, not closed: a closed socket's kernel keeps retransmitting what it had sent, so a
// path that heals minutes later would deliver those commands after all (measured: INCRs counted once the packet
// filter was lifted). `resetAndDestroy()` (Node 16.17+) discards them; a TLS socket cannot be reset and is destroyed.
function ioredisConnection(node: IORedisLike, wholeClient: boolean): WatchedConnection[] {
	const {stream} = node;
	if (node.status !== 'ready' || !stream || stream.destroyed === true || typeof stream.bytesRead !== 'number') {
		return [];
	}

	return [{
		key: stream,
		server: describeAddress(node.options ?? {}),
		wholeClient,
		received: () => stream.bytesRead!,
		hasWaiting: () => (node.commandQueue?.length ?? 1) > 0,
		drop(cause) {
			node.flushQueue?.(cause, {offlineQueue: false});
			try {
				stream.resetAndDestroy!();
			} catch {
				stream.destroy?.();
			}
		},
		ping: async () => node.ping?.(),
	}];
}

// ioredis `Redis` and `Cluster` (v5 and v6) share the status names; Cluster adds `disconnecting`.
export function ioredisAdapter(client: IORedisLike): ClientAdapter {
	// A client with `sentinels` retries inside one try when all sentinels are unreachable, status still `connecting`
	// ("All sentinels are unreachable. Retrying from scratch after …"): its `error` says that try failed, and only the
	// next status event says a new one is under way. Known only while subscribed. (Other clients change status when a try
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

	// ioredis' `disconnect()` while a retry timer is pending clears the timer but never reaches `end`: the socket is
	// already closed, so no `close` event comes (measured on 5.x and 6.x; Cluster stops at `disconnecting` the same way).
	// Nothing is left running then, so finish the transition the way ioredis' own close handler does.
	const finishStuckDisconnect = () => {
		if (!ended() && (client.status === 'reconnecting' || client.status === 'disconnecting' || client.status === 'close')
			&& typeof client.setStatus === 'function') {
			client.setStatus('end');
			client.flushQueue?.(connectionClosed());
		}
	};

	return {
		isReady: () => client.status === 'ready' && client.manuallyClosing !== true,
		phase,
		connect: () => client.connect(),
		isAlreadyConnecting: error => /already connecting\/connected/i.test(messageOf(error)),
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
		onConnectionLost(onLost) {
			// A `Redis` emits `close` a tick after its socket closed (a `Cluster` when its last node went); it never rejects the
			// commands that were in flight: it resends them after reconnecting, or forgets them with
			// `autoResendUnfulfilledCommands: false`.
			const onClose = () => {
				onLost(connectionClosed());
			};

			client.on('close', onClose);
			return () => {
				client.removeListener('close', onClose);
			};
		},
		// A node of a `Cluster` that closes rejects the commands it held with "Connection is closed." (ioredis's
		// CONNECTION_CLOSED_ERROR_MSG); a `Redis` flushes them with MaxRetriesPerRequestError while it reconnects.
		isConnectionLost: error => messageOf(error) === 'Connection is closed.'
			|| (error as {name?: unknown} | undefined)?.name === 'MaxRetriesPerRequestError'
			// The dead-connection rule's flush (`connections()` below).
			|| (error as {code?: unknown} | undefined)?.code === 'DEAD_CONNECTION',
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
		// A Cluster's nodes each have their own socket: each is judged and dropped on its own.
		connections: () => client.isCluster === true
			? (client.nodes?.('all') ?? []).flatMap(node => ioredisConnection(node, false))
			: ioredisConnection(client, true),
	};
}
