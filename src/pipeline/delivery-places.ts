// A process's delivery places (DELIVER_CONCURRENCY), shared fairly between destinations: one
// slow CRM must not hold up the leads of the others.
// - A destination holds at most `perDestination` places (by default all but one in ten: 18 of 20),
//   so the rest stay free for other destinations however many leads the slow one has waiting,
//   while a destination sent to alone loses little of its concurrency.
// - A freed place goes to the waiting destination holding the fewest places (the longest waiter
//   among equals), so a destination that waits gets a place as soon as any send ends, and several
//   slow destinations cannot keep a fast one out.
// - Each destination's recent hold time is kept, so callers can tell a destination that frees its
//   places quickly (waiting for one is short) from one that does not (a queue job should wait
//   instead of a worker).

/** One place held for a destination; given back once. */
export interface HeldPlace {
  give(): void;
}

export interface DestinationPlaces {
  /**
   * Runs the task holding a place for the destination, after waiting its turn when none is free to
   * it. Rejects with PlaceWaitCancelled, without running the task, when `signal` aborts while it waits.
   */
  run<T>(destinationId: string, task: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** A place for the destination when one is free to it right now (nobody waiting ahead of it), else undefined. */
  tryTake(destinationId: string): HeldPlace | undefined;
  /** Whether a place is free to the destination right now. */
  isFreeFor(destinationId: string): boolean;
  /** Whether the destination has every place it may hold. */
  isAtCap(destinationId: string): boolean;
  /** The destination's recent time per place held, in ms (0 before its first). */
  holdMs(destinationId: string): number;
  /** How many callers wait for a place for the destination. */
  waiting(destinationId: string): number;
  /** Whether another destination holds or waits for a place, or gave one back within the last `withinMs`. */
  othersActive(destinationId: string, withinMs: number): boolean;
}

/** Weight of the newest hold time in a destination's moving average. */
const HOLD_AVERAGE_WEIGHT = 0.2;
/** A destination with nothing held or waiting is forgotten after this many ms (its average with it). */
const FORGET_IDLE_MS = 10 * 60_000;

/** What `run` rejects with when its wait for a place was cancelled. */
export class PlaceWaitCancelled extends Error {
  constructor() {
    super('the wait for a delivery place was cancelled');
    this.name = 'PlaceWaitCancelled';
  }
}

interface Waiter {
  seq: number;
  grant: () => void;
}

interface DestinationState {
  held: number;
  waiters: Waiter[];
  avgHoldMs: number;
  lastUsed: number;
}

/** The default share of one destination: all places but one in ten (at least one kept back when there are two or more). */
export function defaultPerDestinationPlaces(total: number): number {
  return total === 1 ? 1 : total - Math.max(1, Math.floor(total / 10));
}

export function createDestinationPlaces(total: number, perDestination = defaultPerDestinationPlaces(total), now: () => number = Date.now): DestinationPlaces {
  if (perDestination < 1 || perDestination > total) throw new Error(`perDestination must be 1..${total}, got ${perDestination}`);
  let active = 0;
  let seq = 0;
  let waitingTotal = 0;
  const states = new Map<string, DestinationState>();
  const stateOf = (id: string): DestinationState => {
    let s = states.get(id);
    if (!s) {
      s = { held: 0, waiters: [], avgHoldMs: 0, lastUsed: now() };
      states.set(id, s);
    }
    return s;
  };
  const forgetIdle = () => {
    const before = now() - FORGET_IDLE_MS;
    for (const [id, s] of states) if (s.held === 0 && s.waiters.length === 0 && s.lastUsed < before) states.delete(id);
  };
  const hold = (s: DestinationState): HeldPlace => {
    active++;
    s.held++;
    const since = now();
    let given = false;
    return {
      give() {
        if (given) return;
        given = true;
        const took = now() - since;
        s.avgHoldMs = s.avgHoldMs === 0 ? took : s.avgHoldMs + HOLD_AVERAGE_WEIGHT * (took - s.avgHoldMs);
        s.lastUsed = now();
        active--;
        s.held--;
        grantNext();
      },
    };
  };
  /** Gives free places to waiters: the destination holding fewest first, then the longest waiting. */
  const grantNext = () => {
    while (active < total && waitingTotal > 0) {
      let best: DestinationState | undefined;
      for (const s of states.values()) {
        if (s.waiters.length === 0 || s.held >= perDestination) continue;
        if (!best || s.held < best.held || (s.held === best.held && s.waiters[0].seq < best.waiters[0].seq)) best = s;
      }
      if (!best) break;
      const waiter = best.waiters.shift() as Waiter;
      waitingTotal--;
      waiter.grant();
    }
    if (states.size > 64) forgetIdle();
  };
  const isFreeFor = (id: string) => {
    const s = states.get(id);
    return active < total && (!s || (s.held < perDestination && s.waiters.length === 0));
  };
  return {
    async run(destinationId, task, signal) {
      const s = stateOf(destinationId);
      let place: HeldPlace;
      if (isFreeFor(destinationId)) place = hold(s);
      else {
        place = await new Promise<HeldPlace>((resolve, reject) => {
          if (signal?.aborted) return reject(new PlaceWaitCancelled());
          const onAbort = () => {
            const at = s.waiters.indexOf(waiter);
            if (at >= 0) {
              s.waiters.splice(at, 1);
              waitingTotal--;
            }
            reject(new PlaceWaitCancelled());
          };
          const waiter: Waiter = {
            seq: seq++,
            grant: () => {
              signal?.removeEventListener('abort', onAbort);
              resolve(hold(s));
            },
          };
          s.waiters.push(waiter);
          waitingTotal++;
          signal?.addEventListener('abort', onAbort, { once: true });
        });
      }
      try {
        return await task();
      } finally {
        place.give();
      }
    },
    tryTake(destinationId) {
      return isFreeFor(destinationId) ? hold(stateOf(destinationId)) : undefined;
    },
    isFreeFor,
    isAtCap: (id) => (states.get(id)?.held ?? 0) >= perDestination,
    holdMs: (id) => states.get(id)?.avgHoldMs ?? 0,
    waiting: (id) => states.get(id)?.waiters.length ?? 0,
    othersActive(id, withinMs) {
      const since = now() - withinMs;
      for (const [other, s] of states) if (other !== id && (s.held > 0 || s.waiters.length > 0 || s.lastUsed >= since)) return true;
      return false;
    },
  };
}
