/*
A Prometheus exporter for connection-guard and the example rate-limit stores, on prom-client. It subscribes to the
guard's TracingChannels (`node:diagnostics_channel`, no monkey-patching) and to the fallback store's
`circuit`/`decision` events. Copy this file; it needs `prom-client` and, for `observeStore`,
`../rate-limit/fallback-store.ts`.
*/
import {tracingChannel} from 'node:diagnostics_channel';
import {createServer, type Server} from 'node:http';
import type {AddressInfo} from 'node:net';
import {Counter, Gauge, Histogram, Registry} from 'prom-client';
import {channels, type ConnectTraceContext, type EnsureConnectedTraceContext} from 'connection-guard';
import type {CircuitEvent, DecidedBy, FallbackRateLimitStore} from '../rate-limit/fallback-store.js';

export type GuardMetrics = {
	readonly registry: Registry;
	/** Count the store's decisions and track its circuit; returns the function that stops. */
	observeStore(store: FallbackRateLimitStore): () => void;
	/** Unsubscribe from the channels (the metrics keep their values). */
	close(): void;
};

const attemptOutcomes = ['ready', 'CONNECT_FAILED', 'CLOSED'] as const;
const waitOutcomes = ['ready', 'TIMEOUT', 'ABORTED', 'CONNECT_FAILED', 'CLOSED'] as const;

/**
Register connection-guard's metrics in `registry` (a new one by default) and start counting:

- `connection_guard_attempts_total{outcome}`: shared connection attempts (one per try, however many callers joined), by
  outcome: `ready`, `CONNECT_FAILED`, `CLOSED`.
- `connection_guard_time_to_ready_seconds`: from an attempt's start to the client being ready (histogram).
- `connection_guard_waits_total{outcome}`: `ensureConnected()` calls that had to wait (the ready fast path is not
  counted), by outcome: `ready`, `TIMEOUT`, `ABORTED`, `CONNECT_FAILED`, `CLOSED`.
- `rate_limit_decisions_total{store}`: hits counted by `redis` or by the `fallback` (stores passed to `observeStore`).
- `rate_limit_circuit_open`: 1 while a fallback store's circuit is open (Redis skipped), else 0.
*/
export function createGuardMetrics({registry = new Registry()}: {registry?: Registry} = {}): GuardMetrics {
	const registers = [registry];
	const attempts = new Counter({
		name: 'connection_guard_attempts_total', help: 'Shared connection attempts, by outcome.', labelNames: ['outcome'], registers,
	});
	const timeToReady = new Histogram({
		name: 'connection_guard_time_to_ready_seconds',
		help: 'Time from the start of a connection attempt until the client was ready.',
		buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
		registers,
	});
	const waits = new Counter({
		name: 'connection_guard_waits_total', help: 'ensureConnected() calls that waited, by outcome.', labelNames: ['outcome'], registers,
	});
	const decisions = new Counter({
		name: 'rate_limit_decisions_total', help: 'Rate-limit hits, by the store that counted them.', labelNames: ['store'], registers,
	});
	const circuitOpen = new Gauge({
		name: 'rate_limit_circuit_open', help: '1 while the fallback store skips Redis (circuit open), else 0.', registers,
	});

	// Every outcome shows from the first scrape (at 0), so rate() and alerts work before the first failure.
	for (const outcome of attemptOutcomes) {
		attempts.inc({outcome}, 0);
	}

	for (const outcome of waitOutcomes) {
		waits.inc({outcome}, 0);
	}

	for (const store of ['redis', 'fallback']) {
		decisions.inc({store}, 0);
	}

	circuitOpen.set(0);

	const startedAt = new WeakMap<ConnectTraceContext, number>();
	const connectSubscriber = {
		start(context: ConnectTraceContext) {
			startedAt.set(context, performance.now());
		},
		end() {},
		asyncStart() {},
		asyncEnd(context: ConnectTraceContext) {
			if (context.error === undefined) {
				attempts.inc({outcome: 'ready'});
				const started = startedAt.get(context);
				if (started !== undefined) {
					timeToReady.observe((performance.now() - started) / 1000);
				}
			}
		},
		error(context: ConnectTraceContext) {
			attempts.inc({outcome: context.error?.code ?? 'CONNECT_FAILED'});
		},
	};
	const ensureConnectedSubscriber = {
		start() {},
		end() {},
		asyncStart() {},
		asyncEnd(context: EnsureConnectedTraceContext) {
			if (context.error === undefined) {
				waits.inc({outcome: 'ready'});
			}
		},
		error(context: EnsureConnectedTraceContext) {
			waits.inc({outcome: context.error?.code ?? 'CONNECT_FAILED'});
		},
	};

	const connect = tracingChannel<unknown, ConnectTraceContext>(channels.connect);
	const ensureConnected = tracingChannel<unknown, EnsureConnectedTraceContext>(channels.ensureConnected);
	connect.subscribe(connectSubscriber);
	ensureConnected.subscribe(ensureConnectedSubscriber);

	return {
		registry,
		observeStore(store) {
			const onDecision = (decidedBy: DecidedBy) => {
				decisions.inc({store: decidedBy === 'primary' ? 'redis' : 'fallback'});
			};

			const onCircuit = (event: CircuitEvent) => {
				circuitOpen.set(event.state === 'open' ? 1 : 0);
			};

			store.on('decision', onDecision);
			store.on('circuit', onCircuit);
			circuitOpen.set(store.circuitOpen ? 1 : 0);
			return () => {
				store.off('decision', onDecision);
				store.off('circuit', onCircuit);
			};
		},
		close() {
			connect.unsubscribe(connectSubscriber);
			ensureConnected.unsubscribe(ensureConnectedSubscriber);
		},
	};
}

/** Serve `registry` as `GET /metrics` on `port` (0: any free port) on loopback, or `host`. Resolves once listening. */
export async function serveMetrics(registry: Registry, {port = 9464, host = '127.0.0.1'} = {}): Promise<{server: Server; url: string}> {
	const server = createServer((request, response) => {
		if (request.method !== 'GET' || request.url !== '/metrics') {
			response.writeHead(404).end();
			return;
		}

		registry.metrics().then(body => {
			response.writeHead(200, {'content-type': registry.contentType}).end(body);
		}, (error: unknown) => {
			response.writeHead(500).end(String(error));
		});
	});
	await new Promise<void>((resolve, reject) => {
		server.once('error', reject);
		server.listen(port, host, () => {
			server.off('error', reject);
			resolve();
		});
	});
	const {port: bound} = server.address() as AddressInfo;
	return {server, url: `http://${host}:${bound}/metrics`};
}
