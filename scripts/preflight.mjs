#!/usr/bin/env node
// Runs before `npm test`: the integration and example tests start their own redis-server processes (and a cluster with
// redis-cli). Without them every one of those tests would time out; stop at once with one line saying what to install.
import {execFileSync} from 'node:child_process';

const missing = ['redis-server', 'redis-cli'].filter(command => {
	try {
		execFileSync(command, ['--version'], {stdio: 'ignore'});
		return false;
	} catch {
		return true;
	}
});

if (missing.length > 0) {
	console.error(`npm test needs ${missing.join(' and ')} on PATH (missing): install Redis, e.g. \`apt-get install redis-server redis-tools\` or \`brew install redis\`.`);
	process.exit(1);
}
