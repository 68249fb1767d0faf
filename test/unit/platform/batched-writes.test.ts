import { expect } from 'chai';
import type { AnyBulkWriteOperation, Document } from 'mongodb';
import { BatchedWrites } from '../../../src/messenger/inbox/batched-writes.js';

/** A collection whose bulkWrite records each command and answers as `answer` says. */
function fakeCollection(answer: (ops: AnyBulkWriteOperation<Document>[]) => unknown) {
  const commands: AnyBulkWriteOperation<Document>[][] = [];
  return {
    commands,
    collection: {
      async bulkWrite(ops: AnyBulkWriteOperation<Document>[]) {
        commands.push(ops);
        const error = answer(ops);
        if (error) throw error;
        return {};
      },
    },
  };
}

const insert = (n: number): AnyBulkWriteOperation<Document> => ({ insertOne: { document: { n } } });

describe('BatchedWrites', () => {
  it('writes issued in the same turn share one command; each caller learns its own outcome', async () => {
    const fake = fakeCollection(() => ({
      writeErrors: [
        { index: 1, code: 11000 },
        { index: 2, code: 121 },
      ],
    }));
    const writes = new BatchedWrites(() => fake.collection);
    const outcomes = await Promise.allSettled([0, 1, 2, 3].map((n) => writes.write(insert(n))));
    expect(fake.commands).to.have.length(1);
    expect(fake.commands[0]).to.have.length(4);
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : 'rejected'))).to.deep.equal([
      'ok',
      'duplicate',
      'rejected',
      'ok',
    ]);
  });

  it('a command that fails as a whole fails every write in it, and the next writes go on their own', async () => {
    let down = true;
    const fake = fakeCollection(() => (down ? new Error('connection closed') : undefined));
    const writes = new BatchedWrites(() => fake.collection);
    const first = await Promise.allSettled([writes.write(insert(1)), writes.write(insert(2))]);
    expect(first.map((o) => o.status)).to.deep.equal(['rejected', 'rejected']);
    down = false;
    expect(await writes.write(insert(3))).to.equal('ok');
    expect(fake.commands.map((c) => c.length)).to.deep.equal([2, 1]);
  });

  it('a command that never answers holds back only its own writes', async () => {
    const fake = fakeCollection(() => undefined);
    let hang = true;
    const writes = new BatchedWrites(() => ({
      bulkWrite: (ops: AnyBulkWriteOperation<Document>[]) =>
        hang ? new Promise<never>(() => undefined) : fake.collection.bulkWrite(ops),
    }));
    void writes.write(insert(1));
    await new Promise((r) => setImmediate(r));
    hang = false;
    expect(await writes.write(insert(2))).to.equal('ok');
  });
});
