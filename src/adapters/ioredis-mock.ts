import {subscribeTo, type ClientAdapter, type EventEmitterLike} from '../client-adapter.js';
import {describeAddress} from '../describe-server.js';
import {messageOf} from '../errors.js';

const noop = () => undefined;

export type IORedisMockLike = EventEmitterLike & {
	connected: boolean;
	connect(): unknown;
	disconnect?: () => void;
	options?: unknown;
};

// ioredis-mock 8: no `status`, a boolean `connected`; `connect()` throws (or rejects) when already connected.
export function ioredisMockAdapter(client: IORedisMockLike): ClientAdapter {
	return {
		isReady: () => client.connected,
		phase: () => client.connected ? 'ready' : 'idle',
		connect: () => client.connect(),
		isAlreadyConnecting: error => /already connecting\/connected/i.test(messageOf(error)),
		subscribe: (onChange, onError) => subscribeTo(client, ['connect', 'ready', 'end'], onChange, error => {
			onError(error);
			onChange();
		}),
		// In memory: no connection to lose.
		onConnectionLost: () => noop,
		isConnectionLost: () => false,
		describe: () => `ioredis-mock ${describeAddress(client.options ?? {})}`,
		async close() {
			if (client.connected) {
				client.disconnect?.();
			}
		},
	};
}
