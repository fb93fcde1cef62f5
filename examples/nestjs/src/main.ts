import 'reflect-metadata';
import {NestFactory} from '@nestjs/core';
import type {NestExpressApplication} from '@nestjs/platform-express';
import {AppModule} from './app.module.js';
import {positiveInteger, rateLimitConfig, type RateLimitConfig} from './rate-limit/stores.js';

let config: RateLimitConfig;
let port: number;
try {
	config = rateLimitConfig();
	port = positiveInteger(process.env, 'PORT', 3000);
} catch (error) {
	// A wrong setting stops the app before it serves, naming the variable.
	console.error(`nestjs: ${(error as Error).message}`);
	process.exit(1);
}

const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config));
// The client key is `req.ip`: the socket's address, or with TRUST_PROXY=1 the first X-Forwarded-For hop.
app.set('trust proxy', config.trustProxy);
// SIGTERM/SIGINT run OnApplicationShutdown: the Redis client is closed through the guard, Prisma disconnected.
app.enableShutdownHooks();
await app.listen(port, '127.0.0.1');
console.log(`nestjs: serving on http://127.0.0.1:${port} (GET /hello, GET /hello/strict, GET /health)`);
