// Delivery places shared between destinations, and the line for them: a destination holds at most
// its share, a freed place goes to the destination holding fewest, and a lead for a destination
// that frees places slowly gets a job at once instead of holding its fetch back.
import { expect } from 'chai';
import { createDeliveryLine } from '../../src/pipeline/delivery-line.js';
import { createDestinationPlaces, defaultPerDestinationPlaces, type HeldPlace } from '../../src/pipeline/delivery-places.js';
import type { DirectSends, StoredDelivery } from '../../src/pipeline/fetch-lead.js';

/** A task that runs until the test lets it finish. */
function heldTask() {
  let finish: () => void = () => undefined;
  let started = false;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  return {
    run: async () => {
      started = true;
      await done;
    },
    finish: () => finish(),
    get started() {
      return started;
    },
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('delivery places shared between destinations', () => {
  it('gives one destination all places but one in ten, keeping at least one back from two places on', () => {
    expect(defaultPerDestinationPlaces(20)).to.equal(18);
    expect(defaultPerDestinationPlaces(25)).to.equal(23);
    expect(defaultPerDestinationPlaces(4)).to.equal(3);
    expect(defaultPerDestinationPlaces(2)).to.equal(1);
    expect(defaultPerDestinationPlaces(1)).to.equal(1);
  });

  it('refuses a share larger than all the places', () => {
    expect(() => createDestinationPlaces(4, 5)).to.throw('perDestination must be 1..4, got 5');
  });

  it('keeps a place free for another destination while one holds its whole share', async () => {
    const places = createDestinationPlaces(4, 3);
    const slow = [heldTask(), heldTask(), heldTask(), heldTask()];
    const running = slow.map((t) => places.run('slow', t.run));
    await settle();
    expect(slow.map((t) => t.started)).to.deep.equal([true, true, true, false]);
    expect(places.isAtCap('slow')).to.equal(true);
    expect(places.waiting('slow')).to.equal(1);
    const fast = places.tryTake('fast');
    expect(fast, 'a place for the other destination').to.not.equal(undefined);
    (fast as HeldPlace).give();
    for (const t of slow) t.finish();
    await Promise.all(running);
    expect(slow[3].started).to.equal(true);
  });

  it('gives a freed place to the waiting destination holding fewest, before one that waited longer', async () => {
    const places = createDestinationPlaces(4, 3);
    const a = [heldTask(), heldTask(), heldTask()];
    const c = [heldTask(), heldTask()];
    const b = heldTask();
    const order: string[] = [];
    const runA = [places.run('a', a[0].run), places.run('a', a[1].run)];
    const runC = c.map((t) => places.run('c', t.run));
    await settle();
    // All four places are held (a: 2, c: 2); a third task of a waits (a is under its share of 3), then b's.
    const waitA = places.run('a', async () => {
      order.push('a');
      await a[2].run();
    });
    const waitB = places.run('b', async () => {
      order.push('b');
      await b.run();
    });
    await settle();
    c[0].finish();
    await runC[0];
    await settle();
    // a holds two, b none: the place goes to b although a waited first.
    expect(order).to.deep.equal(['b']);
    c[1].finish();
    await runC[1];
    await settle();
    expect(order).to.deep.equal(['b', 'a']);
    for (const t of [a[0], a[1], a[2], b]) t.finish();
    await Promise.all([...runA, waitA, waitB]);
  });

  it('does not let a destination take a place past callers already waiting for it', async () => {
    const places = createDestinationPlaces(1, 1);
    const first = heldTask();
    const running = places.run('d', first.run);
    const queued = places.run('d', async () => undefined);
    await settle();
    first.finish();
    // The place passes to the waiting caller, not to a newcomer asking at the same moment.
    await running;
    expect(places.tryTake('d')).to.equal(undefined);
    await queued;
    const place = places.tryTake('d');
    expect(place).to.not.equal(undefined);
    place?.give();
  });

  it('keeps a moving average of how long each destination holds a place', () => {
    let clock = 1_000;
    const places = createDestinationPlaces(4, 3, () => clock);
    expect(places.holdMs('d')).to.equal(0);
    const first = places.tryTake('d') as HeldPlace;
    clock += 100;
    first.give();
    expect(places.holdMs('d')).to.equal(100);
    const second = places.tryTake('d') as HeldPlace;
    clock += 600;
    second.give();
    second.give();
    // The newest hold counts a fifth; a place given back twice counts once.
    expect(places.holdMs('d')).to.equal(200);
  });

  it('tells whether another destination has been sent to lately', () => {
    let clock = 1_000;
    const places = createDestinationPlaces(4, 3, () => clock);
    const own = places.tryTake('own') as HeldPlace;
    expect(places.othersActive('own', 10_000)).to.equal(false);
    const other = places.tryTake('other') as HeldPlace;
    expect(places.othersActive('own', 10_000), 'while it holds a place').to.equal(true);
    clock += 5;
    other.give();
    clock += 9_000;
    expect(places.othersActive('own', 10_000), 'given back 9 s ago').to.equal(true);
    clock += 2_000;
    expect(places.othersActive('own', 10_000), 'given back 11 s ago').to.equal(false);
    own.give();
  });
});

describe('the line for delivery places', () => {
  /** A line over 2 places (1 per destination), 2 leads per place; sends wait until the test lets them finish. */
  function lineOf(now: () => number = Date.now, roomWaitMs = 5_000) {
    const places = createDestinationPlaces(2, 1, now);
    const sends: { destinationId: string; finish: () => void }[] = [];
    const handedBack: string[] = [];
    const sendNow = (stored: StoredDelivery) =>
      new Promise<void>((resolve) => {
        sends.push({ destinationId: stored.delivery.destination_id, finish: resolve });
      });
    const line = createDeliveryLine({
      places,
      totalPlaces: 2,
      perDestination: 1,
      perPlace: 2,
      roomWaitMs,
      leaseMs: 60_000,
      sendPlaced: sendNow,
      sendAfterWait: (stored) => sendNow(stored),
      handBack: async (stored) => {
        handedBack.push(stored.delivery.id);
      },
      track: () => undefined,
    });
    return { line, places, sends, handedBack };
  }
  let nextId = 0;
  const stored = (destinationId: string) => ({ delivery: { id: `d${nextId++}`, destination_id: destinationId } }) as unknown as StoredDelivery;
  const reserveNow = (line: ReturnType<typeof lineOf>['line'], ids: string[]) => {
    const got = line.reserve(ids);
    if (got instanceof Promise) throw new Error('expected an answer at once');
    return got;
  };
  /** Fills a destination's share: its place (a send under way) and its two turns in the line. */
  const fill = (line: ReturnType<typeof lineOf>['line'], destinationId: string) => {
    for (let i = 0; i < 3; i++) (reserveNow(line, [destinationId]) as DirectSends).send([stored(destinationId)]);
  };

  it('gives a lead a place now, then turns in the line up to its destination share', async () => {
    const { line } = lineOf();
    const placed = reserveNow(line, ['a']) as DirectSends;
    expect(placed.destinationIds).to.deep.equal(['a']);
    placed.send([stored('a')]);
    for (let i = 0; i < 2; i++) (reserveNow(line, ['a']) as DirectSends).send([stored('a')]);
    expect(line.occupancy()).to.deep.equal({ inLine: 2, waitingForRoom: 0 });
    // Its share of the line is full: the next fetch waits for room.
    const next = line.reserve(['a']);
    expect(next).to.be.instanceOf(Promise);
    line.close();
    expect(await next).to.equal(undefined);
  });

  it('answers at once with no turn for a slow destination whose share is full while another is sent to', async () => {
    let clock = 0;
    const { line, places, sends } = lineOf(() => clock);
    // The slow destination's first send took 2 s; the fast one was sent to just now.
    (reserveNow(line, ['slow']) as DirectSends).send([stored('slow')]);
    clock += 2_000;
    sends[0].finish();
    await settle();
    (places.tryTake('fast') as HeldPlace).give();
    fill(line, 'slow');
    // Share full (1 place held, 2 in line): a job, without waiting for room.
    expect(reserveNow(line, ['slow'])).to.equal(undefined);
    // The fast destination still gets a place for a lead sent to both.
    const both = reserveNow(line, ['slow', 'fast']) as DirectSends;
    expect(both.destinationIds).to.deep.equal(['fast']);
    both.send([]);
    expect(places.isFreeFor('fast'), 'its unused place given back').to.equal(true);
    line.close();
  });

  it('holds a fetch back until room is made when its destination is the only one sent to', async () => {
    let clock = 0;
    const { line, sends } = lineOf(() => clock);
    (reserveNow(line, ['only']) as DirectSends).send([stored('only')]);
    clock += 2_000;
    sends[0].finish();
    await settle();
    fill(line, 'only');
    const waiting = line.reserve(['only']);
    expect(waiting).to.be.instanceOf(Promise);
    // The send holding the place ends: the first in line takes the place and makes room.
    sends[1].finish();
    const turn = (await waiting) as DirectSends;
    expect(turn.destinationIds).to.deep.equal(['only']);
    turn.send([stored('only')]);
    line.close();
  });

  it('takes no place for a lead while one of its destinations waits for room, then takes both', async () => {
    const { line, places, sends } = lineOf();
    fill(line, 'full');
    const waiting = line.reserve(['full', 'other']);
    expect(waiting).to.be.instanceOf(Promise);
    expect(places.isFreeFor('other'), 'no place held for the other destination while waiting').to.equal(true);
    expect(line.occupancy()).to.deep.equal({ inLine: 2, waitingForRoom: 1 });
    sends[0].finish();
    const both = (await waiting) as DirectSends;
    expect(both.destinationIds.sort()).to.deep.equal(['full', 'other']);
    expect(line.occupancy()).to.deep.equal({ inLine: 2, waitingForRoom: 0 });
    both.send([stored('full'), stored('other')]);
    line.close();
  });

  it('takes what can be had when the wait for room runs out, leaving the rest to jobs', async () => {
    const { line } = lineOf(Date.now, 30);
    fill(line, 'full');
    const got = (await line.reserve(['full', 'other'])) as DirectSends;
    expect(got.destinationIds).to.deep.equal(['other']);
    got.send([stored('other')]);
    expect(line.occupancy()).to.deep.equal({ inLine: 2, waitingForRoom: 0 });
    line.close();
  });

  it('gives back the turns of destinations no stored delivery used', () => {
    const { line, places } = lineOf();
    const turns = reserveNow(line, ['b', 'a', 'b']) as DirectSends;
    expect(turns.destinationIds, 'each destination once').to.deep.equal(['b', 'a']);
    expect(places.isFreeFor('b')).to.equal(false);
    turns.send([stored('a')]);
    expect(places.isFreeFor('b'), "b's place given back").to.equal(true);
    expect(places.isFreeFor('a'), "a's place held by its send").to.equal(false);
    line.close();
  });

  it('hands deliveries still waiting in the line for a place back to jobs once closing', async () => {
    const { line, handedBack } = lineOf();
    fill(line, 'slow');
    expect(line.occupancy().inLine).to.equal(2);
    line.close();
    await settle();
    expect(handedBack).to.have.length(2);
    expect(line.occupancy().inLine).to.equal(0);
  });

  it('lets a fetch waiting for room go on without a turn once closing', async () => {
    const { line } = lineOf();
    fill(line, 'only');
    const waiting = line.reserve(['only']);
    line.close();
    expect(await waiting).to.equal(undefined);
    expect(line.reserve(['only'])).to.equal(undefined);
  });
});
