/*
The example stores, imported from the repository's one copy (examples/rate-limit/). In your app, copy that folder here
instead (examples/README.md lists the files and packages) and change these paths to `./stores/…`.
*/
export {positiveInteger, rateLimitConfig, type RateLimitConfig} from '../../../rate-limit/config.js';
export {FallbackRateLimitStore, RateLimitStoreUnavailableError, type CircuitEvent} from '../../../rate-limit/fallback-store.js';
export {checkKnownOptions} from '../../../rate-limit/options.js';
export {checkAlgorithm, type Algorithm} from '../../../rate-limit/algorithms.js';
export {createRateLimitPrisma, type RateLimitPrisma} from '../../../rate-limit/prisma-clients.js';
export {PrismaRateLimitStore, type PrismaRawClient} from '../../../rate-limit/prisma-store.js';
export {
	RedisRateLimitStore, type RedisClient, type RedisConnectionSource,
} from '../../../rate-limit/redis-store.js';
