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
import { setMaxListeners } from 'node:events';
import { PlaceWaitCancelled, type DestinationPlaces, type HeldPlace } from './delivery-places.js';
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
  /** Gives a stored delivery that waited in the line to a delivery job instead (closing): its claim let go, a job queued. */
  handBack(stored: StoredDelivery, claim: DirectSends['claim']): Promise<void>;
  /** Follows a send started here until it ends (for closing). */
  track(work: Promise<void>): void;
}

export interface DeliveryLine {
  /**
   * Turns for new deliveries of a lead, by destination: a place free now or a turn in the line
   * (possibly after a wait for room); undefined when none of them got one (each gets a job).
   */
  reserve(destinationIds: string[]): DirectSends | undefined | Promise<DirectSends | undefined>;
  /** Leads in the line, and fetches waiting for room in it. */
  occupancy(): { inLine: number; waitingForRoom: number };
  /**
   * From now on nothing is reserved; fetches waiting for room go on without it, and deliveries
   * still waiting in the line for a place are handed back to delivery jobs.
   */
  close(): void;
}

type Turn = { kind: 'placed'; place: HeldPlace } | { kind: 'in_line' };
/** What a destination would get now: a place, a turn in the line, or neither (wait for room, or a job). */
type Chance = 'placed' | 'in_line' | 'wait' | 'job';

export function createDeliveryLine(opts: DeliveryLineOptions): DeliveryLine {
  const { places } = opts;
  const lineMax = opts.perPlace * opts.totalPlaces;
  const shareMax = opts.perPlace * opts.perDestination;
  let inLine = 0;
  const inLineFor = new Map<string, number>();
  let closing = false;
  /** Cancels the waits for a place of deliveries in the line, once closing. */
  const closed = new AbortController();
  // Every delivery waiting in the line listens (until it gets its place): as many as the line holds.
  setMaxListeners(0, closed.signal);
  /** Fetches waiting for room, in order of arrival; each answers whether it is done waiting. */
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
    // Room made: every fetch waiting for room that can go on now does, in order.
    for (let i = 0; i < roomWaiters.length; ) {
      if (roomWaiters[i]()) roomWaiters.splice(i, 1);
      else i++;
    }
  };
  /**
   * Whether a fetch should wait for room in the destination's share of the line: yes when it frees
   * its places quickly, or when no other destination is being sent to (nobody else to hold up:
   * holding fetching back to the pace of the only CRM is what a job would cost more to do).
   */
  const worthWaitingFor = (destinationId: string) =>
    places.holdMs(destinationId) / opts.perDestination <= QUICK_PLACE_MS || !places.othersActive(destinationId, OTHERS_ACTIVE_WITHIN_MS);
  const chanceFor = (destinationId: string): Chance => {
    if (places.isFreeFor(destinationId)) return 'placed';
    const shareFull = (inLineFor.get(destinationId) ?? 0) >= shareMax;
    if (inLine < lineMax && !shareFull) return 'in_line';
    return shareFull && !worthWaitingFor(destinationId) ? 'job' : 'wait';
  };
  /** Takes what each destination can have now; one that can have neither place nor turn gets a job. */
  const takeTurns = (destinationIds: string[]): DirectSends | undefined => {
    const turns = new Map<string, Turn>();
    for (const id of destinationIds) {
      const chance = chanceFor(id);
      const place = chance === 'placed' ? places.tryTake(id) : undefined;
      if (place) turns.set(id, { kind: 'placed', place });
      else if (chance === 'in_line') {
        joinLine(id);
        turns.set(id, { kind: 'in_line' });
      }
    }
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
      else opts.track(sendFromLine(destinationId, s, claim));
    }
    // Turns no stored delivery used (the lead was stored before, say) are given back.
    for (const [destinationId, turn] of turns) {
      if (turn.kind === 'placed') turn.place.give();
      else leaveLine(destinationId);
    }
  };
  const sendFromLine = async (destinationId: string, stored: StoredDelivery, claim: DirectSends['claim']) => {
    let got = false;
    try {
      await places.run(
        destinationId,
        () => {
          got = true;
          leaveLine(destinationId);
          return opts.sendAfterWait(stored, claim);
        },
        closed.signal,
      );
    } catch (err) {
      if (got || !(err instanceof PlaceWaitCancelled)) throw err;
      // Closing while it waited: a delivery job takes it, without waiting for a place.
      leaveLine(destinationId);
      await opts.handBack(stored, claim);
    }
  };

  return {
    reserve(destinationIds) {
      if (closing) return undefined;
      const ids = [...new Set(destinationIds)];
      // Nothing is taken while any destination must wait for room: a place taken and held while
      // the fetch waits would stand idle, and count as a slow send of its destination.
      const waitFor = ids.filter((id) => chanceFor(id) === 'wait');
      if (waitFor.length === 0) return takeTurns(ids);
      return new Promise<DirectSends | undefined>((resolve) => {
        const waiter = () => {
          // Once waiting for a destination, the fetch waits on until it has room or the time is up.
          if (!closing && waitFor.some((id) => ['wait', 'job'].includes(chanceFor(id)))) return false;
          clearTimeout(timer);
          resolve(closing ? undefined : takeTurns(ids));
          return true;
        };
        const timer = setTimeout(() => {
          const at = roomWaiters.indexOf(waiter);
          if (at >= 0) roomWaiters.splice(at, 1);
          // Out of time: what can be had now is taken; the rest get jobs.
          resolve(closing ? undefined : takeTurns(ids));
        }, opts.roomWaitMs);
        roomWaiters.push(waiter);
      });
    },
    occupancy: () => ({ inLine, waitingForRoom: roomWaiters.length }),
    close() {
      closing = true;
      for (const waiter of roomWaiters.splice(0)) waiter();
      closed.abort();
    },
  };
}
