/**
 * A fresh test database on mongoose's default connection (the models use it) for one describe block.
 * Call inside a describe: registers before/after hooks and returns a function to empty collections.
 */
import mongoose from 'mongoose';
import { startTestMongo, type TestMongo } from '../../db/helpers.js';
import '../../../src/db/models/bot-state.js';
import '../../../src/db/models/fan.js';
import '../../../src/db/models/inbox-event.js';
import '../../../src/db/models/lease.js';
import '../../../src/db/models/outbox-message.js';

export function useTestDatabase(): { clear(): Promise<void> } {
  let mongo: TestMongo | undefined;
  before(async function () {
    this.timeout(30_000);
    mongo = await startTestMongo();
    await mongoose.connect(mongo.uri, { serverSelectionTimeoutMS: 10_000 });
    // The unique indexes carry the invariants under test: make sure they exist.
    await Promise.all(Object.values(mongoose.models).map((m) => m.init()));
  });
  after(async () => {
    await mongoose.disconnect();
    await mongo?.stop();
  });
  return {
    async clear() {
      const collections = await mongoose.connection.db!.collections();
      await Promise.all(collections.map((c) => c.deleteMany({})));
    },
  };
}
