// Runs when PostgreSQL answers (jest.config.js leaves this file out otherwise, and says so); .ci/run starts the
// service.
import {postgresPrisma} from '../helpers/stores.js';
import {prismaCleanupSuite} from './prisma-cleanup.js';
import {prismaTarget, storeContract} from './store-contract.js';

jest.setTimeout(60_000);

storeContract(prismaTarget('PrismaRateLimitStore on PostgreSQL (pg adapter)', postgresPrisma));
prismaCleanupSuite('PostgreSQL', postgresPrisma, {sharedDatabase: true});
