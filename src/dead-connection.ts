/*
The dead-connection rule, and the optional heartbeat. A server that vanished without closing its sockets (a failover
that moved the address, a NAT that forgot the flow, a host that lost power) leaves the client's socket open and the
client `ready`: every command waits out its deadline until the kernel gives up on the socket, about 15 minutes later.

The rule: **a connection is dead when it has received nothing at all for `deadConnectionMs` while commands waited on
it.** It is judged only when one of `run()`'s commands reaches its deadline (`TIMEOUT`), so it costs nothing on the hot
path: each judgement reads the connection's count of what it received (ioredis: the socket's `bytesRead`; node-redis,
whose socket is private: the replies `run()` has seen) and compares it with the count at the last judgement. Silence
starts when the command that reached its deadline was sent, or at the last judgement that still saw something arrive,
and goes on across judgements for as long as the count stands still.

What it cannot tell apart: Redis answers a connection's commands in order, so a command that keeps the server or the
connection busy (a long Lua script, `KEYS` on a big database, `DEBUG SLEEP`, a `BLPOP` sent on the same client) keeps
the socket as quiet as a dead peer. Longer than `deadConnectionMs`, such a connection is dropped too; the commands
behind it had reached their deadlines already. Shorter, its reply arrives and the silence is over.

Not built on a library: none watches a socket this way, and the hooks it needs (InFlight's deadlines) are the guard's.
*/
import type {ClientAdapter, WatchedConnection} from './client-adapter.js';
import type {SharedClientState} from './client-state.js';
import {deadConnectionError, type ConnectionGuardError} from './errors.js';
import type {InFlight} from './in-flight.js';
import {maxTimerMs} from './options.js';
import {deadConnectionChannel, type DeadConnectionMessage} from './tracing.js';

/** The default `deadConnectionMs`: twice the guard's `timeoutMs`, at least this long. */
export const minimumDefaultDeadConnectionMs = 1000;

/** What one guard asked for: `Infinity` is off. */
export type DeadConnectionSettings = {
	readonly deadConnectionMs: number;
	readonly heartbeatMs: number;
	/** The guard's `timeoutMs`: the heartbeat PING's deadline. */
	readonly timeoutMs: number;
};

/** The default `deadConnectionMs` for a guard whose `timeoutMs` is this. */
export const defaultDeadConnectionMs = (timeoutMs: number): number =>
	Math.max(2 * timeoutMs, minimumDefaultDeadConnectionMs);

type Look = {
	/** The connection's `received` count at this look. */
	readonly received: number;
	/** When the look was taken (`performance.now()`). */
	readonly at: number;
	/** Since when it is known to have received nothing. */
	readonly silentSince: number;
};

type ConnectionState = SharedClientState & {connectionDead?: (cause: ConnectionGuardError) => void};

const noop = () => undefined;

/**
The rule for one client, shared by its guards: the smallest `deadConnectionMs` and `heartbeatMs` any of them asked for.
One per client in the process (like the client's state), so guards from two copies of the package judge once.
*/
export class DeadConnectionRule {
	// By value: an app that makes a guard per request adds one entry per distinct setting, not one per guard.
	readonly #settings = new Map<string, DeadConnectionSettings>();
	readonly #looks = new WeakMap<object, Look>();
	#deadConnectionMs = Number.POSITIVE_INFINITY;
	#heartbeat: NodeJS.Timeout | undefined;
	#heartbeatMs = Number.POSITIVE_INFINITY;
	#heartbeatTimeoutMs = Number.POSITIVE_INFINITY;
	// The heartbeat's own looks: a connection whose count stood still for a whole period is idle.
	readonly #idleLooks = new WeakMap<object, number | undefined>();
	readonly #pinging = new WeakSet<object>();

	constructor(
		private readonly client: unknown,
		private readonly adapter: ClientAdapter,
		private readonly state: ConnectionState,
		private readonly inFlight: InFlight,
	) {}

	/** A guard's settings join the rule. */
	add(settings: DeadConnectionSettings): void {
		const key = `${settings.deadConnectionMs} ${settings.heartbeatMs} ${settings.timeoutMs}`;
		if (!this.#settings.has(key)) {
			this.#settings.set(key, settings);
			this.#update();
		}
	}

	/** The client was closed (`guard.close()`): no more judging, no heartbeat timer. */
	stop(): void {
		this.#settings.clear();
		this.#update();
	}

	#update() {
		let deadConnectionMs = Number.POSITIVE_INFINITY;
		let heartbeatMs = Number.POSITIVE_INFINITY;
		let heartbeatTimeoutMs = Number.POSITIVE_INFINITY;
		for (const settings of this.#settings.values()) {
			deadConnectionMs = Math.min(deadConnectionMs, settings.deadConnectionMs);
			if (settings.heartbeatMs < heartbeatMs) {
				heartbeatMs = settings.heartbeatMs;
				heartbeatTimeoutMs = settings.timeoutMs;
			}
		}

		this.#deadConnectionMs = deadConnectionMs;
		const watching = this.adapter.connections !== undefined;
		this.inFlight.onDeadline = watching && deadConnectionMs !== Number.POSITIVE_INFINITY ? this.#onDeadline : undefined;
		if (heartbeatMs !== this.#heartbeatMs) {
			clearInterval(this.#heartbeat);
			this.#heartbeat = undefined;
			this.#heartbeatMs = heartbeatMs;
			if (watching && heartbeatMs <= maxTimerMs) {
				this.#heartbeat = setInterval(this.#onHeartbeat, heartbeatMs);
				// Unref'd: an idle app may exit. (Deno's global setInterval hands back a number, with no unref.)
				(this.#heartbeat as {unref?: () => unknown}).unref?.();
			}
		}

		this.#heartbeatTimeoutMs = heartbeatTimeoutMs;
	}

	// `undefined` when nothing says what it received: an InFlight made by an older copy of the package counts no replies.
	#received(connection: WatchedConnection): number | undefined {
		return connection.received?.() ?? this.inFlight.settled as number | undefined;
	}

	// A command of `run()` started at `startedAt` reached its deadline: judge the connections it may have gone out on.
	readonly #onDeadline = (startedAt: number): void => {
		const now = performance.now();
		for (const connection of this.adapter.connections?.() ?? []) {
			if (!connection.hasWaiting()) {
				continue;
			}

			const received = this.#received(connection);
			if (received === undefined) {
				continue;
			}

			const last = this.#looks.get(connection.key);
			// Nothing came since the last look: silent since then still. Something came after this command was sent: silent
			// from now at most. Otherwise (no look, or one from before it was sent): silent since it was sent.
			const silentSince = last?.received === received
				? last.silentSince
				: (last && last.at >= startedAt ? now : startedAt);
			this.#looks.set(connection.key, {received, at: now, silentSince});
			if (now - silentSince >= this.#deadConnectionMs) {
				this.#drop(connection, now - silentSince);
			}
		}
	};

	#drop(connection: WatchedConnection, silentMs: number) {
		this.#looks.delete(connection.key);
		const server = this.adapter.describe();
		const cause = deadConnectionError(connection.server, silentMs, this.#deadConnectionMs);
		if (deadConnectionChannel.hasSubscribers) {
			const message: DeadConnectionMessage = {
				server, connection: connection.server, silentMs, deadConnectionMs: this.#deadConnectionMs,
				wholeClient: connection.wholeClient,
			};
			deadConnectionChannel.publish(message);
		}

		connection.drop(cause);
		// A Cluster stays ready while one node reconnects: its other nodes serve, and the commands for that node's slots
		// go where the cluster sends them next.
		if (connection.wholeClient) {
			this.state.connectionDead?.(cause);
		}
	}

	// Every `heartbeatMs`: one PING, under the guard's deadline, on each ready connection that received nothing since the
	// last beat. A dead one then reaches its deadline like any command, and the rule judges it.
	readonly #onHeartbeat = (): void => {
		if (!this.state.isReady()) {
			return;
		}

		for (const connection of this.adapter.connections?.() ?? []) {
			const {key} = connection;
			const received = this.#received(connection);
			if (received === undefined || this.#idleLooks.get(key) !== received || this.#pinging.has(key)) {
				this.#idleLooks.set(key, received);
				continue;
			}

			this.#pinging.add(key);
			this.inFlight.send(() => connection.ping(), this.client, this.#heartbeatTimeoutMs).catch(noop).finally(() => {
				this.#pinging.delete(key);
				// The PONG itself is not activity: the next beat compares with the count after it.
				this.#idleLooks.set(key, this.#received(connection));
			});
		}
	};
}

// One rule per client in the process, like the client's state (registry.ts): a `Symbol.for` key on `globalThis`.
const rulesKey = Symbol.for('connection-guard.deadConnectionRules.v1');
const global = globalThis as Record<symbol, WeakMap<object, DeadConnectionRule> | undefined>;
const rules = global[rulesKey] ??= new WeakMap<object, DeadConnectionRule>();

/**
Add a guard's settings to the rule of `client` (made on first use). Returns the rule, or `undefined` when the guard
turned both the rule and the heartbeat off.
*/
export function watchConnections(
	client: object,
	adapter: ClientAdapter,
	state: SharedClientState,
	inFlight: InFlight,
	settings: DeadConnectionSettings,
): DeadConnectionRule | undefined {
	if (settings.deadConnectionMs === Number.POSITIVE_INFINITY && settings.heartbeatMs === Number.POSITIVE_INFINITY) {
		return rules.get(client);
	}

	let rule = rules.get(client);
	if (!rule) {
		rule = new DeadConnectionRule(client, adapter, state, inFlight);
		rules.set(client, rule);
	}

	rule.add(settings);
	return rule;
}

/** `guard.close()`: the client's rule stops, whichever guard made it (a later one may have added a heartbeat). */
export function stopWatching(client: object): void {
	rules.get(client)?.stop();
}
