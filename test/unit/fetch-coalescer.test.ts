// Fetch jobs shared across intake inserts: the first insert after a quiet spell is queued at
// once, later ones gather for at most the wait, a full job goes at once, and an insert is never
// split between two jobs.
import { expect } from 'chai';
import { FetchCoalescer } from '../../src/pipeline/fetch-coalescer.js';

/** A coalescer whose queued jobs are recorded; a wait of a minute is never reached in a test. */
function recording(maxWaitMs: number, maxEvents = 100, enqueue?: (ids: number[]) => Promise<void>) {
  const jobs: number[][] = [];
  const errors: { message: string; count: number }[] = [];
  const coalescer = new FetchCoalescer({
    maxWaitMs,
    maxEvents,
    enqueue:
      enqueue ??
      (async (ids) => {
        jobs.push(ids);
      }),
    onError: (err, count) => errors.push({ message: (err as Error).message, count }),
  });
  return { coalescer, jobs, errors };
}

describe('FetchCoalescer', () => {
  it('queues the first insert after a quiet spell at once', () => {
    const { coalescer, jobs } = recording(60_000);
    coalescer.add([7, 8]);
    expect(jobs).to.deep.equal([[7, 8]]);
    expect(coalescer.waitingCount).to.equal(0);
  });

  it('gathers the inserts that follow within the wait into one job, in id order', async () => {
    const { coalescer, jobs } = recording(60_000);
    coalescer.add([1]);
    coalescer.add([4]);
    coalescer.add([2, 3]);
    coalescer.add([5]);
    expect(jobs).to.deep.equal([[1]]);
    expect(coalescer.waitingCount).to.equal(4);
    await coalescer.close();
    expect(jobs).to.deep.equal([[1], [2, 3, 4, 5]]);
  });

  it('queues the gathered events when the wait ends', async () => {
    let second: (ids: number[]) => void = () => {};
    const queuedLater = new Promise<number[]>((resolve) => (second = resolve));
    const jobs: number[][] = [];
    const { coalescer } = recording(30, 100, async (ids) => {
      jobs.push(ids);
      if (jobs.length === 2) second(ids);
    });
    coalescer.add([1]);
    coalescer.add([2]);
    coalescer.add([3]);
    expect(await queuedLater).to.deep.equal([2, 3]);
    expect(coalescer.waitingCount).to.equal(0);
  });

  it('queues a job at once when it is full, without waiting', () => {
    const { coalescer, jobs } = recording(60_000, 4);
    coalescer.add([1]);
    coalescer.add([2, 3]);
    coalescer.add([4, 5]);
    expect(jobs).to.deep.equal([[1], [2, 3, 4, 5]]);
  });

  it('never splits an insert: one that would overfill the waiting job starts the next', async () => {
    const { coalescer, jobs } = recording(60_000, 4);
    coalescer.add([1]);
    coalescer.add([2, 3, 4]);
    coalescer.add([5, 6]);
    expect(jobs).to.deep.equal([[1], [2, 3, 4]]);
    await coalescer.close();
    expect(jobs).to.deep.equal([[1], [2, 3, 4], [5, 6]]);
  });

  it('queues an insert larger than a job as one job', () => {
    const { coalescer, jobs } = recording(60_000, 4);
    coalescer.add([1, 2, 3, 4, 5, 6]);
    expect(jobs).to.deep.equal([[1, 2, 3, 4, 5, 6]]);
  });

  it('with no wait, queues every insert as its own job', () => {
    const { coalescer, jobs } = recording(0);
    coalescer.add([1]);
    coalescer.add([2]);
    coalescer.add([3, 4]);
    expect(jobs).to.deep.equal([[1], [2], [3, 4]]);
  });

  it('reports a failed enqueue with its event count and goes on with the next job', async () => {
    const jobs: number[][] = [];
    const { coalescer, errors } = recording(60_000, 100, async (ids) => {
      if (ids.includes(1)) throw new Error('queue unreachable');
      jobs.push(ids);
    });
    coalescer.add([1, 2]);
    coalescer.add([3]);
    await coalescer.close();
    expect(errors).to.deep.equal([{ message: 'queue unreachable', count: 2 }]);
    expect(jobs).to.deep.equal([[3]]);
  });

  it('close waits for the jobs being added', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const added: number[][] = [];
    const { coalescer } = recording(60_000, 100, async (ids) => {
      await held;
      added.push(ids);
    });
    coalescer.add([1]);
    let isClosed = false;
    const closing = coalescer.close().then(() => (isClosed = true));
    await Promise.resolve();
    expect(isClosed).to.equal(false);
    release();
    await closing;
    expect(added).to.deep.equal([[1]]);
  });
});
