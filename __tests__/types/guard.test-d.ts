// Type tests: checked by `tsc` (npm run typecheck, part of npm test); never executed.
import {Redis, Cluster} from 'ioredis';
import {Redis as Redis6} from 'ioredis6';
import RedisMock from 'ioredis-mock';
import {createClient, createCluster} from 'redis';
import {expectTypeOf} from 'expect-type';
import {
	backoffWithJitter,
	ConnectionGuardError,
	guardedRedis,
	singleFlight,
	type ConnectionGuardErrorCode,
	type RedisGuard,
} from '../../src/index.js';

declare const redis: Redis;
declare const redis6: Redis6;
declare const cluster: Cluster;
declare const mock: InstanceType<typeof RedisMock>;

// ensureConnected() resolves to the client's own type.
expectTypeOf(guardedRedis(redis).ensureConnected()).toEqualTypeOf<Promise<Redis>>();
expectTypeOf(guardedRedis(redis6).ensureConnected()).toEqualTypeOf<Promise<Redis6>>();
expectTypeOf(guardedRedis(cluster).ensureConnected()).toEqualTypeOf<Promise<Cluster>>();
expectTypeOf(guardedRedis(mock).ensureConnected()).toEqualTypeOf<Promise<InstanceType<typeof RedisMock>>>();
expectTypeOf(guardedRedis(redis)).toEqualTypeOf<RedisGuard<Redis>>();
expectTypeOf(guardedRedis(redis).client).toEqualTypeOf<Redis>();
expectTypeOf(guardedRedis(redis).isReady).toEqualTypeOf<boolean>();
expectTypeOf(guardedRedis(redis).close()).toEqualTypeOf<Promise<void>>();
expectTypeOf(guardedRedis(redis, {timeoutMs: 100}).ensureConnected({timeoutMs: 50, signal: AbortSignal.timeout(10)}))
	.toEqualTypeOf<Promise<Redis>>();

// run() hands fn the client's own type and resolves with what fn returns.
expectTypeOf(guardedRedis(redis).run(async client => client.get('k'))).toEqualTypeOf<Promise<string | null>>();
expectTypeOf(guardedRedis(cluster).run(client => client.isCluster)).toEqualTypeOf<Promise<boolean>>();
void guardedRedis(redis).run(async client => {
	expectTypeOf(client).toEqualTypeOf<Redis>();
	return client.incr('k');
}, {timeoutMs: 100, signal: AbortSignal.timeout(10), waitForReady: false});
// @ts-expect-error fn receives the client, not a string
void guardedRedis(redis).run(async (client: string) => client);
// @ts-expect-error timeoutMs is a number
void guardedRedis(redis).run(async client => client.ping(), {timeoutMs: '100'});

// backoffWithJitter fits both clients' retry options.
expectTypeOf(backoffWithJitter()).toEqualTypeOf<(attempt: number) => number>();
const retrying = new Redis({retryStrategy: backoffWithJitter({firstDelayMs: 100, maxDelayMs: 5000})});
const reconnecting = createClient({socket: {reconnectStrategy: backoffWithJitter()}});

// node-redis clients and clusters keep their own (generic) types too.
const nodeClient = createClient();
const nodeCluster = createCluster({rootNodes: []});
expectTypeOf(guardedRedis(nodeClient).ensureConnected()).toEqualTypeOf<Promise<typeof nodeClient>>();
expectTypeOf(guardedRedis(nodeCluster).ensureConnected()).toEqualTypeOf<Promise<typeof nodeCluster>>();
expectTypeOf(guardedRedis(nodeClient)).toEqualTypeOf<RedisGuard<typeof nodeClient>>();
expectTypeOf(guardedRedis(nodeClient).run(async client => client.get('k'))).toEqualTypeOf<Promise<string | null>>();
expectTypeOf(guardedRedis(reconnecting).run(async client => client.ping())).resolves.toBeString();
expectTypeOf(guardedRedis(retrying).run(async client => client.ping())).resolves.toBeString();

// Not a client: a type error.
// @ts-expect-error a string is not a Redis client
guardedRedis('redis://localhost');
// @ts-expect-error timeoutMs is a number
guardedRedis(redis, {timeoutMs: '100'});

// singleFlight keeps parameters and unwraps the result.
const add = singleFlight((a: number, b: number) => a + b);
expectTypeOf(add).toEqualTypeOf<(a: number, b: number) => Promise<number>>();
const load = singleFlight(async (id: string) => ({id}), {key: id => id});
expectTypeOf(load).returns.toEqualTypeOf<Promise<{id: string}>>();
// @ts-expect-error key receives the same parameters
singleFlight(async (id: string) => id, {key: (id: number) => id});

// Errors
expectTypeOf(new ConnectionGuardError('TIMEOUT', 'x').code).toEqualTypeOf<ConnectionGuardErrorCode>();
expectTypeOf<ConnectionGuardErrorCode>().toEqualTypeOf<'TIMEOUT' | 'ABORTED' | 'CONNECT_FAILED' | 'CONNECTION_LOST' | 'CLOSED' | 'DEAD_CONNECTION'>();
