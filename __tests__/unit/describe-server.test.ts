/*
What messages call the server, for every supported client, built from real client objects (nothing connects).
*/
import {Cluster, Redis} from 'ioredis';
import {Redis as Valkey} from 'iovalkey';
import {createClient, createCluster, createSentinel} from 'redis';
import {describeIORedis, describeNodeRedis} from '../../src/describe-server.js';
import {guardedRedis} from '../../src/index.js';
import {rejection} from '../helpers/rejection.js';

const lazy = {lazyConnect: true};

describe('ioredis and iovalkey', () => {
	test.each([
		['host and port', new Redis({...lazy, host: '10.0.0.5', port: 6380}), '10.0.0.5:6380'],
		['a URL with a password', new Redis('redis://user:s3cret@cache.internal:6390', lazy), 'cache.internal:6390'],
		['TLS (rediss://)', new Redis('rediss://:s3cret@cache.internal:6390', lazy), 'rediss://cache.internal:6390'],
		['TLS (tls option)', new Redis({...lazy, host: 'cache.internal', tls: {}}), 'rediss://cache.internal:6379'],
		['a Unix socket', new Redis({...lazy, path: '/run/redis/redis.sock'}), '/run/redis/redis.sock'],
		[
			'Sentinel: the master name and the sentinels, not ioredis\'s default localhost:6379',
			new Redis({...lazy, name: 'mymaster', sentinels: [{host: '127.0.0.1', port: 26_379}, {host: 's2', port: 26_380}]}),
			'sentinel mymaster via 127.0.0.1:26379, s2:26380',
		],
		[
			'Sentinel over TLS',
			new Redis({...lazy, name: 'cache', sentinels: [{host: 's1', port: 26_379}], enableTLSForSentinelMode: true, tls: {}}),
			'sentinel cache via s1:26379 (TLS)',
		],
		['iovalkey', new Valkey({...lazy, host: 'valkey.internal', port: 6400}), 'valkey.internal:6400'],
	])('%s', (_label, client, expected) => {
		expect(describeIORedis(client as never)).toBe(expected);
		client.disconnect();
	});

	test('a Cluster by its startup nodes, passwords dropped, TLS marked', () => {
		const cluster = new Cluster(['redis://:pw@n1:7000', {host: 'n2', port: 7001}, 7002], {...lazy, redisOptions: {tls: {}}});
		expect(describeIORedis(cluster as never)).toBe('cluster n1:7000, n2:7001, localhost:7002 (TLS)');
		cluster.disconnect();
	});
});

describe('node-redis', () => {
	test.each([
		['a URL with a password', createClient({url: 'redis://default:s3cret@cache.internal:6390'}), 'cache.internal:6390'],
		['rediss://', createClient({url: 'rediss://default:s3cret@cache.internal:6390'}), 'rediss://cache.internal:6390'],
		['socket.tls', createClient({socket: {host: 'cache.internal', port: 6390, tls: true}}), 'rediss://cache.internal:6390'],
		['a Unix socket', createClient({socket: {path: '/run/redis/redis.sock', tls: false}}), '/run/redis/redis.sock'],
		['defaults', createClient(), 'localhost:6379'],
	])('%s', (_label, client, expected) => {
		expect(describeNodeRedis(client as never)).toBe(expected);
	});

	test('a cluster by its root nodes, passwords dropped', () => {
		const cluster = createCluster({rootNodes: [{url: 'redis://:pw@n1:7000'}, {socket: {host: 'n2', port: 7001}}]});
		expect(describeNodeRedis(cluster as never)).toBe('cluster n1:7000, n2:7001');
	});

	test('a sentinel client, before it has connected', () => {
		const sentinel = createSentinel({name: 'mymaster', sentinelRootNodes: [{host: '127.0.0.1', port: 26_379}]});
		expect(describeNodeRedis(sentinel as never)).toMatch(/^sentinel/);
	});
});

test('messages use it and never show a password', async () => {
	const client = new Redis('rediss://:hunter2@cache.internal:6390', lazy);
	const guard = guardedRedis(client);
	await guard.close();
	const error = await rejection(guard.ensureConnected());
	expect(error.message).toBe('The connection guard for Redis at rediss://cache.internal:6390 was closed');
	expect(error.message).not.toContain('hunter2');
});
