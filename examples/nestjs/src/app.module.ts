import {join} from 'node:path';
import {type DynamicModule, Module} from '@nestjs/common';
import {APP_GUARD} from '@nestjs/core';
import {ThrottlerModule} from '@nestjs/throttler';
import {AppController} from './app.controller.js';
import {FallbackThrottlerGuard} from './rate-limit/throttler.guard.js';
import {FallbackThrottlerStorage, RATE_LIMIT_CONFIG, RATE_LIMIT_MIGRATIONS} from './rate-limit/throttler-storage.js';
import type {RateLimitConfig} from './rate-limit/stores.js';

// The checked-in SQL migrations of the example stores; in your app, wherever you copied prisma/migrations/ to.
const migrationsDir = join(process.cwd(), '..', 'rate-limit', 'prisma', 'migrations');

@Module({})
export class AppModule {
	static forRoot(config: RateLimitConfig): DynamicModule {
		const settings = [
			{provide: RATE_LIMIT_CONFIG, useValue: config},
			{provide: RATE_LIMIT_MIGRATIONS, useValue: migrationsDir},
		];
		return {
			module: AppModule,
			imports: [
				ThrottlerModule.forRootAsync({
					imports: [SettingsModule.with(settings)],
					inject: [FallbackThrottlerStorage],
					useFactory: (storage: FallbackThrottlerStorage) => ({
						throttlers: [
							{name: 'default', limit: config.limit, ttl: config.windowMs},
							{name: 'strict', limit: 2, ttl: config.windowMs, blockDuration: 2 * config.windowMs},
						],
						storage,
					}),
				}),
			],
			controllers: [AppController],
			providers: [...settings, {provide: APP_GUARD, useClass: FallbackThrottlerGuard}],
		};
	}
}

/** The storage and its settings, for ThrottlerModule's factory: one storage (one Redis client) per process. */
@Module({})
class SettingsModule {
	static with(settings: Array<{provide: symbol; useValue: unknown}>): DynamicModule {
		return {
			module: SettingsModule,
			providers: [...settings, FallbackThrottlerStorage],
			exports: [...settings.map(setting => setting.provide), FallbackThrottlerStorage],
		};
	}
}
