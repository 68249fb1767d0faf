/** Inputs the admin API fuzz suite found to answer 500, kept as fixed regression cases. */
import { expect } from 'chai';
import { errorCode, startHarness, type Harness } from '../admin/harness.js';

describe('admin API fuzz findings (regressions)', function () {
  let h: Harness;
  let token: string;

  before(async () => {
    h = await startHarness();
    token = await h.makeToken('owner');
  });
  after(async () => {
    await h?.close();
  });

  for (const path of ['/campaigns/%', '/fans/%E0%A4%A', '/products/%zz']) {
    it(`a path parameter that cannot be percent-decoded is a 400, not a 500 (${path})`, async () => {
      for (const opts of [{ token }, {}]) {
        const reply = await h.request('get', path, opts);
        expect(reply.status, reply.text).to.equal(400);
        expect(errorCode(reply)).to.equal('invalid_path');
      }
    });
  }
});
