#!/usr/bin/env node
// CI only (.ci/run): after a fresh clone's `npm install` compiled better-sqlite3 from source for this Node (this
// machine cannot download its prebuilt binaries from GitHub), puts that binary where prebuild-install looks before it
// downloads anything — npm's cache, `~/.npm/_prebuilds/<hash>-better-sqlite3-v<version>-node-v<abi>-linux-x64.tar.gz`,
// the name and path prebuild-install itself computes (its own functions, below). Later installs of the same
// better-sqlite3 version on the same Node ABI (the git install, the copy-path apps, the next CI run) then unpack it, as
// a user's install unpacks the download, instead of compiling for minutes again; the install command stays the
// README's. prebuild-install `require()`s what it unpacks, so a binary that does not load on that Node fails there.
// Appends the file it wrote to LIST, so that CI_FULL=1 can take them away again.
// Usage: node scripts/share-prebuilt.mjs PACKAGE_DIR [LIST]   (e.g. node_modules/better-sqlite3)
import {execFileSync} from 'node:child_process';
import {appendFileSync, existsSync, mkdirSync, readFileSync, renameSync} from 'node:fs';
import {createRequire} from 'node:module';
import {dirname, join, relative, resolve} from 'node:path';

const [packageDir, list] = process.argv.slice(2).map(argument => resolve(argument));
const binary = join(packageDir, 'build', 'Release', 'better_sqlite3.node');
if (!existsSync(binary)) {
	console.log(`share-prebuilt: no ${relative(process.cwd(), binary)} (nothing compiled here)`);
	process.exit(0);
}

// The binary loads on this Node: only then is it worth sharing.
const require = createRequire(join(packageDir, 'package.json'));
require(binary);

const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
// prebuild-install as this package's install script finds it (hoisted, or nested under the package).
const prebuildInstall = dirname(require.resolve('prebuild-install/package.json'));
// Its configuration reads minimist(process.argv): none of our arguments may look like its options.
process.argv = process.argv.slice(0, 2);
const rc = require(join(prebuildInstall, 'rc.js'))(manifest);
const util = require(join(prebuildInstall, 'util.js'));
const cached = util.cachedPrebuild(util.getDownloadUrl({...rc, pkg: manifest}));
if (existsSync(cached)) {
	console.log(`share-prebuilt: ${cached} is already there`);
	process.exit(0);
}

mkdirSync(dirname(cached), {recursive: true});
const temporary = `${cached}.${process.pid}.tmp`;
// The layout of the published prebuilt: build/Release/better_sqlite3.node, unpacked into the package's folder.
execFileSync('tar', ['-czf', temporary, '-C', packageDir, 'build/Release/better_sqlite3.node']);
renameSync(temporary, cached);
if (list) {
	mkdirSync(dirname(list), {recursive: true});
	appendFileSync(list, `${cached}\n`);
}

console.log(`share-prebuilt: better-sqlite3 ${manifest.version} for Node ${process.version} (ABI ${rc.abi}) → ${cached}`);
