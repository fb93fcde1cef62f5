/*
The process-wide registry of client states. One per process, not per copy of the package: the ESM and CommonJS builds
and duplicated installs all find the same state for a client, so two copies never connect it twice and `close()` through
one closes it for all.
*/
import type {ClientAdapter} from './client-adapter.js';
import {ClientState, type SharedClientState} from './client-state.js';

// The key's version changes only when `SharedClientState` changes incompatibly.
const registryKey = Symbol.for('connection-guard.clientStates.v1');
const registry: WeakMap<object, SharedClientState> = ((globalThis as Record<symbol, unknown>)[registryKey] as
	WeakMap<object, SharedClientState> | undefined) ?? new WeakMap();
(globalThis as Record<symbol, unknown>)[registryKey] = registry;

/** The state of `client`: the one any copy of the package made first, or a new one on `adapter`. */
export function sharedStateOf(client: object, adapter: ClientAdapter): SharedClientState {
	let state = registry.get(client);
	if (!state) {
		state = new ClientState(client, adapter);
		registry.set(client, state);
	}

	return state;
}
