/*
The example stores, imported from the repository's one copy (examples/rate-limit/). In your app, copy that folder here
instead (examples/README.md lists the files and packages) and change these paths to `./stores/…`.
*/
export {FallbackRateLimitStore, RateLimitStoreUnavailableError} from '../../../../rate-limit/fallback-store.js';
export {createRateLimitPrisma, type RateLimitPrisma} from '../../../../rate-limit/prisma-clients.js';
export {PrismaRateLimitStore} from '../../../../rate-limit/prisma-store.js';
export {RedisRateLimitStore, type RedisClient} from '../../../../rate-limit/redis-store.js';
export {rateLimitConfig, type RateLimitConfig} from '../../../../rate-limit/config.js';
