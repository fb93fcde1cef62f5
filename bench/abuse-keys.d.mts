// Types for abuse-keys.mjs (plain JavaScript, so that the load child needs no TypeScript loader).
export function keyDraw(mix: {seed: number; hotKeys: number; coldKeys: number; hotShare: number}): () => string;
export function isHotKey(key: string): boolean;
