/*
The process-wide registry of client states. One per process, not per copy of the package: the ESM and CommonJS builds
and duplicated installs all find the same state for a client, so two copies never connect it twice and `close()` through
one closes it for all.
*/
import type {ClientAdapter} from './client-adapter.js';
import {ClientState} from './client-state.js';
import type {EnsureConnectedTraceContext} from './tracing.js';

/**
What every copy of the package relies on: guards from another copy call these members, so they only ever grow (the
registry key below carries the version of this shape).
*/
export type SharedClientState = {
	readonly client: unknown;
	/** The one promise the ready fast path hands out: no allocation per call on a ready client. */
	readonly readyPromise: Promise<unknown>;
	describe(): string;
	isReady(): boolean;
	/** `trace` (newer than 0.1.0: older copies never pass it) gets the attempts the call joins in its `attempts`. */
	wait(
		timeoutMs: number, signal: AbortSignal | undefined, waitForReady: boolean, trace?: EnsureConnectedTraceContext,
	): Promise<unknown>;
	close(timeoutMs: number): Promise<void>;
};

// The key's version changes only when `SharedClientState` changes incompatibly.
const registryKey = Symbol.for('connection-guard.clientStates.v1');
const registry: WeakMap<object, SharedClientState> = ((globalThis as Record<symbol, unknown>)[registryKey] as
	WeakMap<object, SharedClientState> | undefined) ?? new WeakMap();
(globalThis as Record<symbol, unknown>)[registryKey] = registry;

/** The state of `client`, made with `makeAdapter()` when no copy of the package has one for it yet. */
export function sharedStateOf(client: object, makeAdapter: () => ClientAdapter): SharedClientState {
	let state = registry.get(client);
	if (!state) {
		state = new ClientState(client, makeAdapter());
		registry.set(client, state);
	}

	return state;
}
