import {type DynamicModule, Logger, Module} from '@nestjs/common';
import {APP_GUARD} from '@nestjs/core';
import {ThrottlerModule, type ThrottlerStorage} from '@nestjs/throttler';
import {Cluster} from 'ioredis';
import {createClient, createCluster} from 'redis';
import {AppController} from './app.controller.js';
import {FallbackThrottlerGuard, RATE_LIMIT_CONFIG} from './rate-limit/throttler.guard.js';
import {FallbackThrottlerStorage, type ThrottlerRedis} from './rate-limit/throttler-storage.js';
import type {RateLimitConfig} from './rate-limit/stores.js';

@Module({})
export class AppModule {
	static forRoot(config: RateLimitConfig): DynamicModule {
		// One instance of it: the throttler and the health check share the storage (one Redis client per app).
		const rateLimit = RateLimitModule.with(config);
		return {
			module: AppModule,
			imports: [
				rateLimit,
				ThrottlerModule.forRootAsync({
					imports: [rateLimit],
					inject: [FallbackThrottlerStorage],
					useFactory: (storage: ThrottlerStorage) => ({
						throttlers: [
							// blockDuration defaults to ttl: a client over the limit waits one window from its last refused hit.
							{name: 'default', limit: config.limit, ttl: config.windowMs},
							{name: 'strict', limit: 2, ttl: config.windowMs, blockDuration: 2 * config.windowMs},
						],
						storage,
					}),
				}),
			],
			controllers: [AppController],
			providers: [{provide: APP_GUARD, useClass: FallbackThrottlerGuard}],
		};
	}
}

/** The settings and the storage. */
@Module({})
class RateLimitModule {
	static with(config: RateLimitConfig): DynamicModule {
		return {
			module: RateLimitModule,
			providers: [
				{provide: RATE_LIMIT_CONFIG, useValue: config},
				{
					provide: FallbackThrottlerStorage,
					// Nothing connects until the first request (or /health) needs it.
					useFactory: () => new FallbackThrottlerStorage({
						redis: redisOf(config),
						database: config.databaseUrl,
						cooldownMs: config.cooldownMs,
						algorithm: config.algorithm,
						logger: new Logger('RateLimit'),
					}),
				},
			],
			exports: [RATE_LIMIT_CONFIG, FallbackThrottlerStorage],
		};
	}
}

/**
Redis as the settings say: a Cluster's startup nodes, Sentinels, or a URL, with ioredis or node-redis. The storage
closes what it makes. Functions: after a shutdown the storage makes a new client (a closed one is closed for good).
*/
function redisOf({redisClusterNodes, redisSentinel, redisUrl, redisClient}: RateLimitConfig): ThrottlerRedis {
	if (redisClient === 'node-redis') {
		// No offline queue: a command sent while disconnected fails at once (the guard sends none then anyway).
		return redisClusterNodes
			? () => createCluster({rootNodes: redisClusterNodes.map(node => ({socket: node}))})
			: () => createClient({url: redisUrl, disableOfflineQueue: true});
	}

	if (redisClusterNodes) {
		return () => new Cluster(redisClusterNodes, {
			lazyConnect: true,
			redisOptions: {maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false},
		});
	}

	return redisSentinel ?? redisUrl;
}
