// The line for delivery places: how a worker sends the deliveries of a lead it has just stored
// itself (stored claimed by it: no delivery job, no trip through the queue, no claim statement).
// Each new delivery gets a place for its destination now, else a turn in this process's line for
// one, else a delivery job as before. Under load the line keeps leads on the cheap path: a job
// costs two more statements and ~30 Redis commands, and paying them just when the process falls
// behind made it fall further behind.
//
// The line holds `perPlace` leads per delivery place in all, and one destination at most
// `perPlace` per place it may hold, so a slow CRM cannot fill it for the others. When the line has
// no room for a delivery, the fetch waits up to `roomWaitMs` for room, since at a thousand
// leads a second a line drains a lead a millisecond and a passing slowdown should hold fetching
// back rather than make every lead dearer. It does not wait for a destination that frees its places
// slowly (room in its share is far off, and the fetch would hold up other destinations' leads):
// that delivery gets a job at once, and the job waits its turn in the queue.
import { randomUUID } from 'node:crypto';
import type { DestinationPlaces, HeldPlace } from './delivery-places.js';
import type { DirectSends, StoredDelivery } from './fetch-lead.js';

/**
 * A destination "frees places quickly" when, holding its whole share, one of them is given back
 * within this many ms on average (at least ~100 sends a second): then waiting for room is short.
 */
const QUICK_PLACE_MS = 10;

/** Another destination counts as being sent to when one of its places was given back within this many ms. */
export const OTHERS_ACTIVE_WITHIN_MS = 10_000;

export interface DeliveryLineOptions {
  places: DestinationPlaces;
  /** How many places there are in all, and how many one destination may hold. */
  totalPlaces: number;
  perDestination: number;
  /** How many leads may wait in the line per place. */
  perPlace: number;
  /** How long a fetch waits for room in a full line before its lead gets a delivery job. */
  roomWaitMs: number;
  /** How long a direct send's claim lasts. */
  leaseMs: number;
  /** Sends a stored delivery whose place was free at once (the place is given back afterwards). */
  sendPlaced(stored: StoredDelivery): Promise<void>;
  /** Sends a stored delivery that waited in the line, now holding a place. */
  sendAfterWait(stored: StoredDelivery, claim: DirectSends['claim']): Promise<void>;
  /** Follows a send started here until it ends (for closing). */
  track(work: Promise<void>): void;
}

export interface DeliveryLine {
  /**
   * Turns for new deliveries of a lead, by destination: a place free now or a turn in the line
   * (possibly after a wait for room); undefined when none of them got one (each gets a job).
   */
  reserve(destinationIds: string[]): DirectSends | undefined | Promise<DirectSends | undefined>;
  /** From now on nothing is reserved; fetches waiting for room go on without it. */
  close(): void;
}

type Turn = { kind: 'placed'; place: HeldPlace } | { kind: 'in_line' };

export function createDeliveryLine(opts: DeliveryLineOptions): DeliveryLine {
  const { places } = opts;
  const lineMax = opts.perPlace * opts.totalPlaces;
  const shareMax = opts.perPlace * opts.perDestination;
  let inLine = 0;
  const inLineFor = new Map<string, number>();
  let closing = false;
  /** Fetches waiting for room, first come first served; each answers whether it is done waiting. */
  const roomWaiters: (() => boolean)[] = [];

  const joinLine = (destinationId: string) => {
    inLine++;
    inLineFor.set(destinationId, (inLineFor.get(destinationId) ?? 0) + 1);
  };
  const leaveLine = (destinationId: string) => {
    inLine--;
    const left = (inLineFor.get(destinationId) ?? 1) - 1;
    if (left > 0) inLineFor.set(destinationId, left);
    else inLineFor.delete(destinationId);
    // Room made: fetches waiting for it go on, in order, while it lasts.
    while (roomWaiters.length > 0 && roomWaiters[0]()) roomWaiters.shift();
  };
  /**
   * Whether a fetch should wait for room in the destination's share of the line: yes when it frees
   * its places quickly, or when no other destination is being sent to (nobody else to hold up:
   * holding fetching back to the pace of the only CRM is what a job would cost more to do).
   */
  const worthWaitingFor = (destinationId: string) =>
    places.holdMs(destinationId) / opts.perDestination <= QUICK_PLACE_MS || !places.othersActive(destinationId, OTHERS_ACTIVE_WITHIN_MS);
  /** A place now, else a turn in the line; else whether room is worth waiting for. */
  const take = (destinationId: string): Turn | 'wait' | 'job' => {
    const place = places.tryTake(destinationId);
    if (place) return { kind: 'placed', place };
    const shareFull = (inLineFor.get(destinationId) ?? 0) >= shareMax;
    if (inLine < lineMax && !shareFull) {
      joinLine(destinationId);
      return { kind: 'in_line' };
    }
    return shareFull && !worthWaitingFor(destinationId) ? 'job' : 'wait';
  };
  const release = (destinationId: string, turn: Turn) => {
    if (turn.kind === 'placed') turn.place.give();
    else leaveLine(destinationId);
  };
  const reservation = (turns: Map<string, Turn>): DirectSends | undefined => {
    if (turns.size === 0) return undefined;
    const claim = { token: randomUUID(), until: new Date(Date.now() + opts.leaseMs) };
    return { destinationIds: [...turns.keys()], claim, send: (stored) => sendReserved(turns, claim, stored) };
  };
  const sendReserved = (turns: Map<string, Turn>, claim: DirectSends['claim'], stored: StoredDelivery[]) => {
    for (const s of stored) {
      const destinationId = s.delivery.destination_id;
      const turn = turns.get(destinationId);
      if (!turn) continue;
      turns.delete(destinationId);
      if (turn.kind === 'placed') opts.track(opts.sendPlaced(s).finally(() => turn.place.give()));
      else
        opts.track(
          places.run(destinationId, () => {
            leaveLine(destinationId);
            return opts.sendAfterWait(s, claim);
          }),
        );
    }
    // Turns no stored delivery used (the lead was stored before, say) are given back.
    for (const [destinationId, turn] of turns) release(destinationId, turn);
  };

  return {
    reserve(destinationIds) {
      if (closing) return undefined;
      const turns = new Map<string, Turn>();
      const waitFor: string[] = [];
      for (const id of destinationIds) {
        const got = take(id);
        if (got === 'wait') waitFor.push(id);
        else if (got !== 'job') turns.set(id, got);
      }
      if (waitFor.length === 0) return reservation(turns);
      return new Promise<DirectSends | undefined>((resolve) => {
        const finish = () => {
          clearTimeout(timer);
          if (closing) {
            for (const [id, turn] of turns) release(id, turn);
            resolve(undefined);
          } else resolve(reservation(turns));
        };
        const waiter = () => {
          if (!closing) {
            for (let i = waitFor.length - 1; i >= 0; i--) {
              const id = waitFor[i];
              // Once waiting, the fetch waits on until room comes or its time is up.
              const got = take(id);
              if (got === 'wait' || got === 'job') continue;
              waitFor.splice(i, 1);
              turns.set(id, got);
            }
            if (waitFor.length > 0) return false;
          }
          finish();
          return true;
        };
        const timer = setTimeout(() => {
          const at = roomWaiters.indexOf(waiter);
          if (at >= 0) roomWaiters.splice(at, 1);
          finish();
        }, opts.roomWaitMs);
        roomWaiters.push(waiter);
      });
    },
    close() {
      closing = true;
      for (const waiter of roomWaiters.splice(0)) waiter();
    },
  };
}
