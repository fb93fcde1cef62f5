/*
examples/observability/opentelemetry.ts with the real OpenTelemetry SDK (in-memory span exporter, the AsyncLocalStorage
context manager, an in-memory metric reader) on a real redis-server: how spans parent and link, and that the metrics
add up. ioredis's own `ioredis:connect` channel is subscribed as an APM would (a span under the active context).
*/
import {tracingChannel} from 'node:diagnostics_channel';
import {context, type Span} from '@opentelemetry/api';
import {AsyncLocalStorageContextManager} from '@opentelemetry/context-async-hooks';
import {
	AggregationTemporality, MeterProvider, MetricReader, type HistogramMetricData, type SumMetricData,
} from '@opentelemetry/sdk-metrics';
import {BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan} from '@opentelemetry/sdk-trace-base';
import {Redis} from 'ioredis';
import {guardedRedis} from 'connection-guard';
import {instrumentConnectionGuard} from '../../examples/observability/opentelemetry.js';
import {RedisServer, freePort} from '../servers/redis-server.js';
import {rejection} from '../helpers/rejection.js';

jest.setTimeout(60_000);

/** Collects on demand (what the SDK's own tests do): `collect()` reads every instrument now. */
class CollectingReader extends MetricReader {
	constructor() {
		super({aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE});
	}

	protected override async onForceFlush() {}
	protected override async onShutdown() {}
}

const contextManager = new AsyncLocalStorageContextManager();
let server: RedisServer;
let exporter: InMemorySpanExporter;
let tracerProvider: BasicTracerProvider;
let reader: CollectingReader;
let stopInstrumenting: () => void;
let stopIoredisSubscriber: () => void;
const clients: Redis[] = [];

/** What an APM does with ioredis's own `ioredis:connect` channel: a span per connect() under the active context. */
function subscribeToIoredisConnect(): () => void {
	const tracer = tracerProvider.getTracer('ioredis-channel');
	const spans = new WeakMap<object, Span>();
	const channel = tracingChannel<unknown, object & {error?: Error}>('ioredis:connect');
	const subscriber = {
		start(message: object) {
			spans.set(message, tracer.startSpan('ioredis connect', {}, context.active()));
		},
		end() {},
		asyncStart() {},
		error(message: {error?: Error}) {
			spans.get(message)?.setAttribute('error.type', message.error?.message ?? 'error');
		},
		asyncEnd(message: object) {
			spans.get(message)?.end();
		},
	};
	channel.subscribe(subscriber);
	return () => {
		channel.unsubscribe(subscriber);
	};
}

const lazyClient = (port: number) => {
	const client = new Redis({host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 1});
	client.on('error', () => undefined);
	clients.push(client);
	return client;
};

/** `count` concurrent requests, each in its own root span `request N` (what an HTTP server instrumentation makes). */
async function requests<T>(count: number, handle: () => Promise<T>) {
	const tracer = tracerProvider.getTracer('app');
	return Promise.all(Array.from({length: count}, async (_, index) =>
		tracer.startActiveSpan(`request ${index}`, {root: true}, async span => {
			try {
				return await handle();
			} finally {
				span.end();
			}
		})));
}

const named = (name: string) => exporter.getFinishedSpans().filter(span => span.name === name);
const requestSpans = () => exporter.getFinishedSpans().filter(span => span.name.startsWith('request '));
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

async function metricsNow() {
	const {resourceMetrics} = await reader.collect();
	const all = resourceMetrics.scopeMetrics.flatMap(scope => scope.metrics);
	const attempts = all.find(metric => metric.descriptor.name === 'connection_guard.attempts') as SumMetricData | undefined;
	const waits = all.find(metric => metric.descriptor.name === 'connection_guard.wait.duration') as
		HistogramMetricData | undefined;
	type Point<P> = {attributes: Record<string, unknown>; value: P};
	const byOutcome = <P>(points: Array<Point<P>> = [], read: (value: P) => number) =>
		Object.fromEntries(points.map(point => [String(point.attributes['connection_guard.outcome']), read(point.value)]));
	return {
		attempts: byOutcome(attempts?.dataPoints, value => value),
		waits: byOutcome(waits?.dataPoints, value => value.count),
		waitUnit: waits?.descriptor.unit,
	};
}

beforeAll(async () => {
	server = await RedisServer.start();
	context.setGlobalContextManager(contextManager.enable());
});

beforeEach(() => {
	exporter = new InMemorySpanExporter();
	tracerProvider = new BasicTracerProvider({spanProcessors: [new SimpleSpanProcessor(exporter)]});
	reader = new CollectingReader();
	const meterProvider = new MeterProvider({readers: [reader]});
	stopInstrumenting = instrumentConnectionGuard({tracerProvider, meterProvider});
	stopIoredisSubscriber = subscribeToIoredisConnect();
});

afterEach(async () => {
	stopInstrumenting();
	stopIoredisSubscriber();
	for (const client of clients.splice(0)) {
		client.disconnect();
	}

	await tracerProvider.shutdown();
});

afterAll(async () => {
	context.disable();
	await server.stop();
});

test('a cold herd of 20 requests: each wait span is a child of its own request span; one attempt span, linked from all', async () => {
	const guard = guardedRedis(lazyClient(server.port));
	await requests(20, async () => guard.ensureConnected());

	const requestsById = new Map(requestSpans().map(span => [span.spanContext().spanId, span]));
	const waits = named('connection-guard.wait');
	const [attempt, ...otherAttempts] = named('connection-guard.attempt');
	expect(requestsById.size).toBe(20);
	expect(waits).toHaveLength(20);
	expect(otherAttempts).toHaveLength(0);

	// Every request has exactly one wait under it, in its own trace.
	const parents = waits.map(wait => requestsById.get(parentOf(wait)!));
	expect(new Set(parents).size).toBe(20);
	for (const [index, wait] of waits.entries()) {
		expect(wait.spanContext().traceId).toBe(parents[index]!.spanContext().traceId);
		expect(wait.attributes).toMatchObject({
			'server.address': '127.0.0.1', 'server.port': server.port, 'db.system.name': 'redis',
			'connection_guard.wait_for_ready': false,
		});
		expect(wait.status.code).toBe(0);
		// The link to the shared attempt, which is in no request's trace.
		expect(wait.links.map(link => link.context.spanId)).toEqual([attempt!.spanContext().spanId]);
	}

	expect(attempt!.parentSpanContext).toBeUndefined();
	const requestTraces = [...requestsById.values()].map(span => span.spanContext().traceId);
	expect(requestTraces).not.toContain(attempt!.spanContext().traceId);
	expect(attempt!.attributes).toMatchObject({
		'connection_guard.called_connect': true, 'connection_guard.waiters': 20, 'server.port': server.port,
	});

	// ioredis's own channel: one connect() for the whole herd, published inside the request that started the attempt.
	const ioredisConnects = named('ioredis connect');
	expect(ioredisConnects).toHaveLength(1);
	expect(ioredisConnects[0]!.attributes['error.type']).toBeUndefined();
	expect(requestsById.has(parentOf(ioredisConnects[0]!)!)).toBe(true);

	expect(await metricsNow()).toEqual({attempts: {ready: 1}, waits: {ready: 20}, waitUnit: 's'});
});

test('for contrast, naive code (connect() per caller): ioredis:connect shows a span per caller, all but one failing', async () => {
	const client = lazyClient(server.port);
	await requests(5, async () => client.connect().catch(() => undefined));
	const connects = named('ioredis connect');
	expect(connects).toHaveLength(5);
	expect(connects.filter(span => span.attributes['error.type'] === 'Redis is already connecting/connected')).toHaveLength(4);
});

test('a refused port: every wait span and the attempt span end in error with error.type CONNECT_FAILED', async () => {
	const guard = guardedRedis(lazyClient(await freePort()));
	const errors = await requests(10, async () => rejection(guard.ensureConnected()));
	expect(errors.map(error => error.code)).toEqual(Array.from({length: 10}, () => 'CONNECT_FAILED'));

	const waits = named('connection-guard.wait');
	const attempts = named('connection-guard.attempt');
	expect(waits).toHaveLength(10);
	expect(attempts).toHaveLength(1);
	for (const span of [...waits, ...attempts]) {
		expect(span.status.code).toBe(2);
		expect(span.attributes['error.type']).toBe('CONNECT_FAILED');
	}

	for (const wait of waits) {
		expect(wait.links.map(link => link.context.spanId)).toEqual([attempts[0]!.spanContext().spanId]);
	}

	expect(await metricsNow()).toEqual({attempts: {CONNECT_FAILED: 1}, waits: {CONNECT_FAILED: 10}, waitUnit: 's'});
});

test('a frozen server: the waits end with TIMEOUT while the attempt span stays open until the server is back', async () => {
	server.freeze();
	let thawed = false;
	try {
		const guard = guardedRedis(lazyClient(server.port));
		const errors = await requests(5, async () => rejection(guard.ensureConnected({timeoutMs: 200})));
		expect(errors.map(error => error.code)).toEqual(Array.from({length: 5}, () => 'TIMEOUT'));
		const waits = named('connection-guard.wait');
		expect(waits.map(wait => wait.attributes['error.type'])).toEqual(Array.from({length: 5}, () => 'TIMEOUT'));
		// Still open: not exported yet, but the waits already link to it.
		expect(named('connection-guard.attempt')).toHaveLength(0);
		const linked = new Set(waits.flatMap(wait => wait.links.map(link => link.context.spanId)));
		expect(linked.size).toBe(1);
		expect(await metricsNow()).toEqual({attempts: {}, waits: {TIMEOUT: 5}, waitUnit: 's'});

		const afterThaw = guard.ensureConnected({timeoutMs: 20_000});
		server.thaw();
		thawed = true;
		await afterThaw;
		const [attempt, ...others] = named('connection-guard.attempt');
		expect(others).toHaveLength(0);
		expect(attempt!.spanContext().spanId).toBe([...linked][0]);
		expect(attempt!.status.code).toBe(0);
		expect(attempt!.attributes['connection_guard.waiters']).toBe(6);
		// The call made outside any request span is a root wait span.
		expect(named('connection-guard.wait').filter(wait => wait.parentSpanContext === undefined)).toHaveLength(1);
		expect(await metricsNow()).toEqual({attempts: {ready: 1}, waits: {TIMEOUT: 5, ready: 1}, waitUnit: 's'});
	} finally {
		if (!thawed) {
			server.thaw();
		}
	}
});

test('a ready client is the fast path: no span, no metric', async () => {
	const guard = guardedRedis(lazyClient(server.port));
	await guard.ensureConnected();
	exporter.reset();
	const before = await metricsNow();
	await requests(50, async () => guard.ensureConnected());
	expect(named('connection-guard.wait')).toHaveLength(0);
	expect(await metricsNow()).toEqual(before);
});

test('after the returned function runs, nothing is recorded', async () => {
	stopInstrumenting();
	const guard = guardedRedis(lazyClient(server.port));
	await requests(5, async () => guard.ensureConnected());
	expect(named('connection-guard.wait')).toHaveLength(0);
	expect(named('connection-guard.attempt')).toHaveLength(0);
	expect(await metricsNow()).toEqual({attempts: {}, waits: {}, waitUnit: undefined});
	// The app's own span still reached the exporter: the SDK itself was not disturbed.
	expect(requestSpans()).toHaveLength(5);
});

test('a connection that stops answering past deadConnectionMs: connection_guard.dead_connections counts the drop', async () => {
	const client = new Redis({host: '127.0.0.1', port: server.port, maxRetriesPerRequest: 1});
	client.on('error', () => undefined);
	clients.push(client);
	const guard = guardedRedis(client, {timeoutMs: 200, deadConnectionMs: 200});
	await guard.run(async redis => redis.ping());
	// A frozen server keeps its socket open and answers nothing: to the client, a dead connection.
	server.freeze();
	try {
		expect((await rejection(guard.run(async redis => redis.ping()))).code).toBe('TIMEOUT');
	} finally {
		server.thaw();
	}

	const {resourceMetrics} = await reader.collect();
	const dead = resourceMetrics.scopeMetrics.flatMap(scope => scope.metrics)
		.find(metric => metric.descriptor.name === 'connection_guard.dead_connections') as SumMetricData | undefined;
	expect(dead?.dataPoints.map(point => [point.attributes, point.value])).toEqual([[{
		'db.system.name': 'redis',
		'connection_guard.server': `127.0.0.1:${server.port}`,
		'server.address': '127.0.0.1',
		'server.port': server.port,
		'connection_guard.whole_client': true,
	}, 1]]);
	await expect(guard.run(async redis => redis.ping(), {waitForReady: true, timeoutMs: 5000})).resolves.toBe('PONG');
});
