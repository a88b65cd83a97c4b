// The V8 heap settings LeadRelay's long-running processes are started with (the npm binary's
// shebang, the Docker image's NODE_OPTIONS, the `npm start` script; the worker child of `start`
// inherits them from its parent). They can only be given on node's command line or in
// NODE_OPTIONS: V8 sizes its heap when the process starts.
//
// Why: with V8's defaults, a server's young generation grows to 32 MB during start-up and stays
// there, and its old generation grows to about 4× the live data before a full collection, so
// `leadrelay serve` idled at ~145 MB and peaked at ~240 MB under webhook load while holding
// ~45 MB of live objects. A 4 MB semi-space and an old-generation ceiling of 384 MB (which
// also makes V8 collect at ~1.35× the live data instead of ~4×) keep it near 110 MB idle and
// 125 MB under load (README, Performance), at a few per cent more CPU in the garbage collector.
/** Node options for a server process: young generation semi-spaces, old-generation ceiling. */
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--max-old-space-size=384'];
