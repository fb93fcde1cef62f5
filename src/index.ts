export {singleFlight, type SingleFlightOptions} from './single-flight.js';
export {
	guardedRedis,
	type GuardedRedisOptions,
	type EnsureConnectedOptions,
	type RedisGuard,
	type RedisLikeClient,
} from './guarded-redis.js';
export {backoffWithJitter, type BackoffOptions} from './backoff.js';
export {ConnectionGuardError, type ConnectionGuardErrorCode} from './errors.js';
export {
	channels, type ConnectTraceContext, type DeadConnectionMessage, type EnsureConnectedTraceContext,
} from './tracing.js';
