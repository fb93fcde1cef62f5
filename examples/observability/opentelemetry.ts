/*
OpenTelemetry spans and metrics for connection-guard, from its TracingChannels (`node:diagnostics_channel`, no
monkey-patching). Copy this file; it needs only `@opentelemetry/api` at run time: the app's own SDK (the OTel Node SDK,
or any TracerProvider/MeterProvider) does the rest. Nothing subscribes until `instrumentConnectionGuard()` runs.

The picture it gives of one request on a cold client:

  request span (the app's)
  └─ connection-guard.wait           child of the span active at the ensureConnected() call
       ├─ link → connection-guard.attempt   the shared try, in a trace of its own
       └─ error.type = TIMEOUT | CONNECT_FAILED | …   when it failed

The shared attempt is joined by every concurrent caller, so it is no caller's child (it would otherwise hang under
whichever request happened to start it): each wait links to it instead, and it carries `connection_guard.waiters`.
*/
import {subscribe, tracingChannel, unsubscribe} from 'node:diagnostics_channel';
import {
	context, metrics, SpanKind, SpanStatusCode, trace, type Attributes, type MeterProvider, type Span, type TracerProvider,
} from '@opentelemetry/api';
import {
	channels, type ConnectTraceContext, type DeadConnectionMessage, type EnsureConnectedTraceContext,
} from 'connection-guard';

export type InstrumentConnectionGuardOptions = {
	/** @default the global one (`trace.getTracerProvider()`, what the OTel Node SDK registers) */
	tracerProvider?: TracerProvider;
	/** @default the global one (`metrics.getMeterProvider()`) */
	meterProvider?: MeterProvider;
};

const scope = 'connection-guard';

/**
`server.address` and `server.port` (OTel semantic conventions) when the guard names one server (`host:port`,
`rediss://host:port`); clusters and sentinels name several, so only `connection_guard.server` carries them.
*/
function serverAttributes(server: string): Attributes {
	const single = /^(?:rediss?:\/\/)?(\[[^\]]+\]|[^\s:/]+):(\d+)$/.exec(server);
	return {
		'db.system.name': 'redis',
		'connection_guard.server': server,
		...(single && {'server.address': single[1]!.replace(/^\[|\]$/g, ''), 'server.port': Number(single[2])}),
	};
}

/**
Subscribe to connection-guard's two TracingChannels and its dead-connection channel and report them through
OpenTelemetry; returns the function that unsubscribes.

- A span `connection-guard.wait` per `ensureConnected()` call that had to wait (the ready fast path publishes nothing),
  a child of the span active at the call; `error.type` is the guard's `code` when it failed. Linked to the shared
  attempt(s) it joined.
- A span `connection-guard.attempt` per shared attempt, a root span (no caller's child), with
  `connection_guard.called_connect` and, at its end, `connection_guard.waiters`.
- Metrics: `connection_guard.attempts` (counter, by `connection_guard.outcome`: `ready`, `CONNECT_FAILED`, `CLOSED`) and
  `connection_guard.wait.duration` (histogram in seconds, by `connection_guard.outcome`: `ready` or the error code);
  `connection_guard.dead_connections` (counter: connections the guard found dead and dropped, by the dropped
  connection's `server.address`/`server.port` and `connection_guard.whole_client`: `false` for one Cluster node).

@example
```
import {instrumentConnectionGuard} from './observability/opentelemetry.js';

// Once the app's OpenTelemetry SDK has started (the OTel Node SDK's start() registers the global providers):
const stop = instrumentConnectionGuard();
process.once('SIGTERM', stop);
```
*/
export function instrumentConnectionGuard({
	tracerProvider = trace.getTracerProvider(),
	meterProvider = metrics.getMeterProvider(),
}: InstrumentConnectionGuardOptions = {}): () => void {
	const tracer = tracerProvider.getTracer(scope);
	const meter = meterProvider.getMeter(scope);
	const attemptsCounter = meter.createCounter('connection_guard.attempts', {
		description: 'Shared connection attempts (one per try, however many callers joined), by outcome.',
		unit: '{attempt}',
	});
	const waitDuration = meter.createHistogram('connection_guard.wait.duration', {
		description: 'How long ensureConnected() calls that had to wait took, by outcome.',
		unit: 's',
		advice: {explicitBucketBoundaries: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]},
	});

	const deadConnections = meter.createCounter('connection_guard.dead_connections', {
		description: 'Connections that received nothing for deadConnectionMs while commands waited, dropped to reconnect.',
		unit: '{connection}',
	});

	// Contexts are the keys: a trace's start, error and end events all carry the same object. An attempt's span stays
	// reachable after it ended, for the waits that joined it and end later (they hold its context in `attempts`).
	const attemptSpans = new WeakMap<ConnectTraceContext, Span>();
	const waits = new WeakMap<EnsureConnectedTraceContext, {span: Span; startedAt: number}>();

	const connectSubscriber = {
		start(attempt: ConnectTraceContext) {
			attemptSpans.set(attempt, tracer.startSpan('connection-guard.attempt', {
				kind: SpanKind.CLIENT,
				root: true,
				attributes: {...serverAttributes(attempt.server), 'connection_guard.called_connect': attempt.calledConnect},
			}));
		},
		end() {},
		asyncStart() {},
		error(attempt: ConnectTraceContext) {
			const span = attemptSpans.get(attempt);
			span?.setAttribute('error.type', attempt.error?.code ?? 'unknown');
			span?.setStatus({code: SpanStatusCode.ERROR, message: attempt.error?.message});
		},
		asyncEnd(attempt: ConnectTraceContext) {
			const span = attemptSpans.get(attempt);
			span?.setAttribute('connection_guard.waiters', attempt.waiters);
			span?.end();
			attemptsCounter.add(1, {'connection_guard.outcome': attempt.error?.code ?? 'ready'});
		},
	};

	const ensureConnectedSubscriber = {
		start(call: EnsureConnectedTraceContext) {
			// Published synchronously inside the caller's ensureConnected(): the active context is the caller's.
			const span = tracer.startSpan('connection-guard.wait', {
				kind: SpanKind.INTERNAL,
				attributes: {
					...serverAttributes(call.server),
					'connection_guard.timeout_ms': call.timeoutMs,
					'connection_guard.wait_for_ready': call.waitForReady,
				},
			}, context.active());
			waits.set(call, {span, startedAt: performance.now()});
		},
		end() {},
		asyncStart() {},
		error(call: EnsureConnectedTraceContext) {
			const span = waits.get(call)?.span;
			span?.setAttribute('error.type', call.error?.code ?? 'unknown');
			span?.setStatus({code: SpanStatusCode.ERROR, message: call.error?.message});
		},
		asyncEnd(call: EnsureConnectedTraceContext) {
			const wait = waits.get(call);
			if (!wait) {
				return;
			}

			waits.delete(call);
			const links = call.attempts.flatMap(attempt => {
				const span = attemptSpans.get(attempt);
				return span ? [{context: span.spanContext()}] : [];
			});
			wait.span.addLinks(links);
			wait.span.end();
			waitDuration.record((performance.now() - wait.startedAt) / 1000, {
				'connection_guard.outcome': call.error?.code ?? 'ready',
			});
		},
	};

	const connectChannel = tracingChannel<unknown, ConnectTraceContext>(channels.connect);
	const ensureConnectedChannel = tracingChannel<unknown, EnsureConnectedTraceContext>(channels.ensureConnected);
	const onDeadConnection = (message: unknown) => {
		const {connection, wholeClient} = message as DeadConnectionMessage;
		deadConnections.add(1, {...serverAttributes(connection), 'connection_guard.whole_client': wholeClient});
	};

	connectChannel.subscribe(connectSubscriber);
	ensureConnectedChannel.subscribe(ensureConnectedSubscriber);
	subscribe(channels.deadConnection, onDeadConnection);
	return () => {
		connectChannel.unsubscribe(connectSubscriber);
		ensureConnectedChannel.unsubscribe(ensureConnectedSubscriber);
		unsubscribe(channels.deadConnection, onDeadConnection);
	};
}
