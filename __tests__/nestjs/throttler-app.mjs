// A Nest app that puts @nestjs/throttler's own guard (the example's FallbackThrottlerGuard) in front of the example's
// FallbackThrottlerStorage, with the throttlers throttler-http.test.ts needs: blocks shorter and longer than the
// window, no block, named throttlers, `skipIf`. It runs the example's build (the `nestjs` jest project builds it
// first) with the example's packages. Plain JavaScript, so decorators are applied by hand (the repository's typecheck
// has no Nest). PORT, REDIS_URL and DATABASE_URL come from the environment. SIGUSR2 closes the app and starts a new
// one in this process on the same port with the same storage (as an HMR reload, or a second app of one testing
// module, does).
import {createRequire} from 'node:module';
import {join, resolve} from 'node:path';
import {pathToFileURL} from 'node:url';

const exampleApp = resolve(import.meta.dirname, '../../examples/nestjs');
const require = createRequire(join(exampleApp, 'package.json'));
require('reflect-metadata');
const {Controller, Get, Logger, Module} = require('@nestjs/common');
const {APP_GUARD, NestFactory} = require('@nestjs/core');
const {SkipThrottle, Throttle, ThrottlerModule} = require('@nestjs/throttler');
const built = async file => import(pathToFileURL(join(exampleApp, 'dist/nestjs/src/rate-limit', file)).href);
const {FallbackThrottlerStorage} = await built('throttler-storage.js');
const {FallbackThrottlerGuard, RATE_LIMIT_CONFIG} = await built('throttler.guard.js');

class LimitsController {
	shortBlock() {
		return {ok: true};
	}

	longBlock() {
		return {ok: true};
	}

	noBlock() {
		return {ok: true};
	}

	named() {
		return {ok: true};
	}
}

const decorate = (name, ...decorators) => {
	const descriptor = Object.getOwnPropertyDescriptor(LimitsController.prototype, name);
	for (const decorator of decorators) {
		decorator(LimitsController.prototype, name, descriptor);
	}
};

decorate('shortBlock', Get('short-block'), Throttle({default: {limit: 2, ttl: 6000, blockDuration: 2000}}));
decorate('longBlock', Get('long-block'), Throttle({default: {limit: 2, ttl: 1000, blockDuration: 3000}}));
decorate('noBlock', Get('no-block'), Throttle({default: {limit: 2, ttl: 2000, blockDuration: 0}}));
decorate('named', Get('named'), SkipThrottle({default: true, short: false, long: false}));
SkipThrottle({short: true, long: true})(LimitsController);
Controller()(LimitsController);

// One storage for every app this process starts, as a module-level instance is kept across an HMR reload.
const storage = new FallbackThrottlerStorage({
	redis: process.env.REDIS_URL,
	database: process.env.DATABASE_URL,
	cooldownMs: 300,
	logger: new Logger('RateLimit'),
});

class LimitsModule {}
Module({
	imports: [ThrottlerModule.forRoot({
		throttlers: [
			{name: 'default', limit: 5, ttl: 60_000},
			{name: 'short', limit: 1, ttl: 1000},
			{name: 'long', limit: 3, ttl: 10_000},
		],
		storage,
		// Each test is a client of its own.
		getTracker: request => request.headers['x-client'] ?? request.ip,
		skipIf: context => context.switchToHttp().getRequest().headers['x-skip'] === '1',
	})],
	controllers: [LimitsController],
	providers: [
		{provide: RATE_LIMIT_CONFIG, useValue: {failOpen: false}},
		{provide: APP_GUARD, useClass: FallbackThrottlerGuard},
	],
})(LimitsModule);

let started = 0;
async function start() {
	const app = await NestFactory.create(LimitsModule, {logger: ['error', 'warn', 'log']});
	await app.listen(Number(process.env.PORT), '127.0.0.1');
	console.log(`throttler-app: serving ${++started}`);
	return app;
}

let app = await start();
process.on('SIGUSR2', () => {
	void (async () => {
		await app.close();
		app = await start();
	})();
});
process.once('SIGTERM', () => {
	void app.close().then(() => {
		process.exit(0);
	});
});
