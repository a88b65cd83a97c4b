// The V8 heap settings LeadRelay's long-running processes are started with (the npm binary's
// shebang, the Docker image's NODE_OPTIONS, the `npm start` script; the worker child of `start`
// inherits them from its parent, but for its semi-space: see WORKER_SEMI_SPACE_FLAG). They can only be given on node's command line or in
// NODE_OPTIONS: V8 sizes its heap when the process starts.
//
// Why: with V8's defaults, a server's young generation grows to 32 MB during start-up and stays
// there, and its old generation grows to about 4× the live data before a full collection, so
// `leadrelay serve` idled at ~145 MB and peaked at ~240 MB under webhook load while holding
// ~45 MB of live objects. An old-generation ceiling of 384 MB (which also makes V8 collect at
// ~1.35× the live data instead of ~4×) and an 8 MB semi-space keep it near 115 MB idle and 133 MB
// under load (README, Performance). The semi-space was 4 MB first: at 1,000 webhooks/s it
// scavenged every ~85 ms, so objects that lived across a few commits were promoted, and four
// full collections in 10 s (~10 ms each) made the acknowledgement p99 13–20 ms; at 8 MB, half the
// scavenges, one full collection, p99 8.4–9.9 ms, the same peak RSS, and 14–29 % less CPU per
// lead fetched in `bench burst`. 16 MB gave little more and a peak at the 150 MB target.
/** Node options for a server process: young generation semi-spaces, old-generation ceiling. */
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8', '--max-old-space-size=384'];

/**
 * The semi-space of `start`'s worker process (fetching and delivering; it acknowledges no
 * webhook, so the 8 MB that keeps the acknowledgement p99 down buys it nothing). At 1,000 leads/s
 * (`bench e2e --rate 1000`) the worker peaked at 150–155 MB RSS with 8 MB and 143 MB with 4 MB, at
 * the same CPU per lead within the runs' scatter.
 */
export const WORKER_SEMI_SPACE_FLAG = '--max-semi-space-size=4';

/** Node options for the worker child: its parent's, with the worker's semi-space instead of the parent's. */
export function workerExecArgv(parentExecArgv: readonly string[]): string[] {
  return [...parentExecArgv.filter((arg) => !/^--max[-_]semi[-_]space[-_]size(=|$)/.test(arg)), WORKER_SEMI_SPACE_FLAG];
}
