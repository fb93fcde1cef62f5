import {channel, tracingChannel} from 'node:diagnostics_channel';
import type {ConnectionGuardError} from './errors.js';

/**
The context of a `connection-guard:connect` trace: one per **shared attempt**, the try of the client that every
concurrent waiter joins. Published on the TracingChannel's `start` and `end` when the attempt begins, then
`asyncStart`/`asyncEnd` when the client is ready, or `error` (then `asyncStart`/`asyncEnd`) with a `CONNECT_FAILED` or
`CLOSED` error. A caller's own timeout or abort does not end it. Field names are part of the public API (semver).

@example
```
import {channel, tracingChannel} from 'node:diagnostics_channel';
import type {ConnectTraceContext} from 'connection-guard';

tracingChannel<unknown, ConnectTraceContext>('connection-guard:connect').subscribe({
	start() {},
	end() {},
	asyncStart() {},
	asyncEnd(context) {
		console.log(`${context.server}: ready after a try joined by ${context.waiters} callers`);
	},
	error(context) {
		console.warn(`${context.server}: ${context.error?.message}`);
	},
});
```
*/
export type ConnectTraceContext = {
	/** The server(s) the client talks to, as error messages name them. */
	readonly server: string;
	/** `true` when the guard called `connect()` for this attempt; `false` when it joined a try the client made itself. */
	readonly calledConnect: boolean;
	/** How many `ensureConnected()` calls joined this attempt; final when the trace ends. */
	waiters: number;
	/** Set before `error` is published. */
	error?: ConnectionGuardError;
};

/**
The context of a `connection-guard:ensureConnected` trace: one per call that is **not** answered by the ready fast path
(the fast path publishes nothing). Published with `TracingChannel#tracePromise`: `start`, `end`, then
`asyncStart`/`asyncEnd`, with `error` first when the call rejects (`TIMEOUT`, `ABORTED`, `CONNECT_FAILED` or `CLOSED`).
Field names are part of the public API (semver).

@example
```
import {channel, tracingChannel} from 'node:diagnostics_channel';
import type {EnsureConnectedTraceContext} from 'connection-guard';

const timedOut = new Set<EnsureConnectedTraceContext>();
tracingChannel<unknown, EnsureConnectedTraceContext>('connection-guard:ensureConnected').subscribe({
	start() {},
	end() {},
	asyncStart() {},
	asyncEnd() {},
	error(context) {
		if (context.error?.code === 'TIMEOUT') {
			timedOut.add(context);
		}
	},
});
```
*/
export type EnsureConnectedTraceContext = {
	/** The server(s) the client talks to, as error messages name them. */
	readonly server: string;
	/** This call's deadline in milliseconds (`Infinity` for none). */
	readonly timeoutMs: number;
	/** This call's mode. */
	readonly waitForReady: boolean;
	/**
	The shared attempts this call joined (their `connection-guard:connect` contexts), in order: one, or more when
	`waitForReady` waited through failed tries; none when it never reached one (aborted, or failed fast between tries).
	Filled only while the connect channel has subscribers. Link a wait's span to its attempts' spans with these.
	*/
	readonly attempts: ConnectTraceContext[];
	/** Set before `error` is published. */
	error?: ConnectionGuardError;
};

/**
The message published on the `connection-guard:dead-connection` channel (a plain diagnostics channel: one event, no
start or end) each time the guard drops a connection it found dead, just before it drops it. Field names are part of
the public API (semver).

@example
```
import {subscribe} from 'node:diagnostics_channel';
import {channels, type DeadConnectionMessage} from 'connection-guard';

subscribe(channels.deadConnection, message => {
	const {connection, silentMs} = message as DeadConnectionMessage;
	console.warn(`dropped ${connection}: nothing received for ${Math.round(silentMs)} ms`);
});
```
*/
export type DeadConnectionMessage = {
	/** The server(s) the client talks to, as error messages name them. */
	readonly server: string;
	/** The connection dropped: the client's own, or one Cluster node's (`host:port`). */
	readonly connection: string;
	/** How long it had received nothing while commands waited on it, in milliseconds. */
	readonly silentMs: number;
	/** The rule's threshold it passed. */
	readonly deadConnectionMs: number;
	/** `true` when it was the client's only connection (not one node of a Cluster). */
	readonly wholeClient: boolean;
};

/**
The names of the channels this package publishes on (`node:diagnostics_channel`): two TracingChannels and one plain
channel (`deadConnection`). Stable across releases.

@example
```
import {channel, tracingChannel} from 'node:diagnostics_channel';
import {channels} from 'connection-guard';

const connect = tracingChannel(channels.connect);
console.log(connect.hasSubscribers);
```
*/
export const channels = {
	connect: 'connection-guard:connect',
	ensureConnected: 'connection-guard:ensureConnected',
	deadConnection: 'connection-guard:dead-connection',
} as const;

// Channels are global by name, so every copy of the package publishes to the same subscribers.
export const connectChannel = tracingChannel<unknown, ConnectTraceContext>(channels.connect);
export const ensureConnectedChannel = tracingChannel<unknown, EnsureConnectedTraceContext>(channels.ensureConnected);
export const deadConnectionChannel = channel(channels.deadConnection);

type SubChannels = Record<'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error', {readonly hasSubscribers: boolean}>;

/**
`TracingChannel#hasSubscribers` (Node 20.13+; missing from @types/node 20's typings). Bun 1.4's TracingChannel has no
such property (its sub-channels have theirs), so without it any subscribed sub-channel counts. Called off the fast path
only.
*/
export function hasSubscribers(channel: object): boolean {
	const own = (channel as {hasSubscribers?: boolean}).hasSubscribers;
	if (typeof own === 'boolean') {
		return own;
	}

	const {start, end, asyncStart, asyncEnd, error} = channel as SubChannels;
	return start.hasSubscribers || end.hasSubscribers || asyncStart.hasSubscribers || asyncEnd.hasSubscribers
		|| error.hasSubscribers;
}

/** Open the trace of a shared attempt, when anyone listens; `describe` is only called then. */
export function startConnectTrace(
	describe: () => string,
	calledConnect: boolean,
	waiters: number,
): ConnectTraceContext | undefined {
	if (!hasSubscribers(connectChannel)) {
		return undefined;
	}

	const trace: ConnectTraceContext = {server: describe(), calledConnect, waiters};
	connectChannel.start.publish(trace);
	connectChannel.end.publish(trace);
	return trace;
}

/** Close a shared attempt's trace: `asyncEnd` when ready, `error` first when not. */
export function endConnectTrace(trace: ConnectTraceContext, error: ConnectionGuardError | undefined): void {
	if (error) {
		trace.error = error;
		connectChannel.error.publish(trace);
	}

	connectChannel.asyncStart.publish(trace);
	connectChannel.asyncEnd.publish(trace);
}
