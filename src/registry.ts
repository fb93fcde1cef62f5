/*
The process-wide registries of client states, and of `run()`'s commands in flight. One per process, not per copy of
the package: the ESM and CommonJS builds and duplicated installs all find the same state for a client, so two copies
never connect it twice and `close()` through one closes it for all.
*/
import type {ClientAdapter} from './client-adapter.js';
import {ClientState, type SharedClientState} from './client-state.js';
import {InFlight} from './in-flight.js';

/** A WeakMap on `globalThis` under `key`, made by the first copy of the package that asks. */
function processWide<V>(key: symbol): WeakMap<object, V> {
	const global = globalThis as Record<symbol, unknown>;
	global[key] ??= new WeakMap<object, V>();
	return global[key] as WeakMap<object, V>;
}

function getOrAdd<V>(registry: WeakMap<object, V>, client: object, make: () => V): V {
	let value = registry.get(client);
	if (value === undefined) {
		value = make();
		registry.set(client, value);
	}

	return value;
}

// A key's version changes only when the shape under it changes incompatibly. `run()`'s commands have their own key, so
// that copies of the package without `run()` keep sharing the states.
const states = processWide<SharedClientState>(Symbol.for('connection-guard.clientStates.v1'));
const inFlights = processWide<InFlight>(Symbol.for('connection-guard.inFlight.v1'));

/** The state of `client`: the one any copy of the package made first, or a new one on `adapter`. */
export const sharedStateOf = (client: object, adapter: ClientAdapter): SharedClientState =>
	getOrAdd(states, client, () => new ClientState(client, adapter));

/** The commands `run()` has in flight on `client`, watched with `adapter`: one timer and one listener per client. */
export const inFlightOf = (client: object, adapter: ClientAdapter): InFlight =>
	getOrAdd(inFlights, client, () => new InFlight(adapter));

/** The commands in flight on `client`, if `run()` was ever called for it. */
export const existingInFlight = (client: object): InFlight | undefined => inFlights.get(client);
