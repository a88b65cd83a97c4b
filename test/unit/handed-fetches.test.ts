// The parent's account of events handed to its worker process (src/cli/handed-fetches.ts).
import { expect } from 'chai';
import { HandedFetches } from '../../src/cli/handed-fetches.js';

function setUp(maxEvents = 10, queue: (ids: number[]) => Promise<void> = async () => {}) {
  const queued: number[][] = [];
  const errors: { message: string; count: number }[] = [];
  const handed = new HandedFetches({
    maxEvents,
    queue: async (ids) => {
      queued.push(ids);
      await queue(ids);
    },
    onQueueError: (err, count) => errors.push({ message: (err as Error).message, count }),
  });
  return { handed, queued, errors };
}

describe('handed fetches (events held by the worker process)', () => {
  it('takes events up to the bound and refuses a message that would pass it', () => {
    const { handed } = setUp(5);
    expect(handed.take([1, 2, 3])).to.be.a('number');
    expect(handed.take([4, 5, 6])).to.equal(undefined);
    expect(handed.take([4, 5])).to.be.a('number');
    expect(handed.events).to.equal(5);
  });

  it('refuses an empty message', () => {
    expect(setUp().handed.take([])).to.equal(undefined);
  });

  it('frees the room of a message the worker process took, and queues nothing for it', async () => {
    const { handed, queued } = setUp(3);
    const id = handed.take([1, 2, 3]) as number;
    handed.answered(id, true);
    await handed.settled();
    expect(queued).to.deep.equal([]);
    expect(handed.events).to.equal(0);
    expect(handed.take([4, 5, 6])).to.be.a('number');
  });

  it('queues the events of a message the worker process gave back, once however often it answers', async () => {
    const { handed, queued } = setUp();
    const id = handed.take([7, 8]) as number;
    handed.answered(id, false);
    handed.answered(id, false);
    handed.answered(id, true);
    await handed.settled();
    expect(queued).to.deep.equal([[7, 8]]);
  });

  it('queues every unanswered message as its own job when the worker process ends, and counts their events', async () => {
    const { handed, queued } = setUp();
    const first = handed.take([1, 2]) as number;
    handed.take([3]);
    handed.take([4, 5, 6]);
    handed.answered(first, true);
    expect(handed.giveBackAll()).to.equal(4);
    await handed.settled();
    expect(queued).to.deep.equal([[3], [4, 5, 6]]);
    expect(handed.events).to.equal(0);
    expect(handed.giveBackAll()).to.equal(0);
  });

  it('reports a queue call that fails, with its event count, and does not throw', async () => {
    const { handed, errors } = setUp(10, async () => {
      throw new Error('queue unreachable');
    });
    handed.take([1, 2]);
    handed.giveBackAll();
    await handed.settled();
    expect(errors).to.deep.equal([{ message: 'queue unreachable', count: 2 }]);
  });

  it('settles only once the fetch jobs being queued are added', async () => {
    let release: () => void = () => {};
    const { handed } = setUp(10, () => new Promise<void>((resolve) => (release = resolve)));
    handed.take([1]);
    handed.giveBackAll();
    let settled = false;
    const settling = handed.settled().then(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).to.equal(false);
    release();
    await settling;
    expect(settled).to.equal(true);
  });
});
