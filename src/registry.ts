/*
The process-wide registry of client states. One per process, not per copy of the package: the ESM and CommonJS builds
and duplicated installs all find the same state for a client, so two copies never connect it twice and `close()` through
one closes it for all.
*/
import type {ClientAdapter} from './client-adapter.js';
import {ClientState, type SharedClientState} from './client-state.js';
import {InFlight} from './in-flight.js';

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

// `run()`'s commands in flight, per client: one timer and one connection listener per client for every guard. Its own
// key, so that copies of the package without `run()` keep sharing the state above.
const inFlightKey = Symbol.for('connection-guard.inFlight.v1');
const inFlightRegistry: WeakMap<object, InFlight> = ((globalThis as Record<symbol, unknown>)[inFlightKey] as
	WeakMap<object, InFlight> | undefined) ?? new WeakMap();
(globalThis as Record<symbol, unknown>)[inFlightKey] = inFlightRegistry;

/** The commands `run()` has in flight on `client`, watched with `adapter`. */
export function inFlightOf(client: object, adapter: ClientAdapter): InFlight {
	let inFlight = inFlightRegistry.get(client);
	if (!inFlight) {
		inFlight = new InFlight(adapter);
		inFlightRegistry.set(client, inFlight);
	}

	return inFlight;
}

/** The commands in flight on `client`, if `run()` was ever called for it. */
export const existingInFlight = (client: object): InFlight | undefined => inFlightRegistry.get(client);
