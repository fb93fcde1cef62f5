// Jest's globalSetup for the `nextjs` and `nestjs` projects: installs and builds the app once, before any test file
// starts it, so that the files (run side by side) never install or build into the same folder at once.
import {spawnSync} from 'node:child_process';
import {join, resolve} from 'node:path';

type ProjectConfig = {displayName?: string | {name: string}};

export default function prepareExampleApp(_globalConfig: unknown, project: ProjectConfig): void {
	const name = typeof project.displayName === 'string' ? project.displayName : project.displayName?.name;
	const root = resolve(__dirname, '../..');
	const {status} = spawnSync(process.execPath, [join(root, `scripts/example-${name}.mjs`), '--prepare'], {cwd: root, stdio: 'inherit'});
	if (status !== 0) {
		throw new Error(`example:${name}: installing or building the app failed (exit code ${status}); its output is above.`);
	}
}
