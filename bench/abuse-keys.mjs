// The abuse bench's key mix, shared by the HTTP load (bench/abuse-load-child.mjs) and the store-level rounds
// (bench/abuse.ts): one function that draws the next client key. Plain JavaScript so that the load child runs on node
// without a TypeScript loader.

/**
A draw of client keys: a share `hotShare` of the draws is one of `hotKeys` keys (`h0`…), the rest one of `coldKeys`
keys (`c0`…), uniformly within each group. mulberry32 from `seed`: the same sequence for every store measured.
@param {{seed: number, hotKeys: number, coldKeys: number, hotShare: number}} mix
@returns {() => string}
*/
export function keyDraw({seed, hotKeys, coldKeys, hotShare}) {
	// Made once: a draw allocates nothing.
	const hot = Array.from({length: hotKeys}, (_, index) => `h${index}`);
	const cold = Array.from({length: coldKeys}, (_, index) => `c${index}`);
	let state = seed >>> 0;
	const next = () => {
		state = (state + 0x6D_2B_79_F5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
	};

	return () => {
		const group = next() < hotShare ? hot : cold;
		return group[Math.floor(next() * group.length)];
	};
}

/** Whether `key` is one of the hot keys of the mix. */
export const isHotKey = key => key.startsWith('h');
