import { createHmac } from 'node:crypto';
import { expect } from 'chai';
import { isValidSignature } from '../../../src/messenger/webhook/signature.js';

const SECRET = 'app-secret-for-tests';
const body = Buffer.from('{"object":"page","entry":[{"id":"1","messaging":[{"text":"perch\\u00e9"}]}]}');
const hex = (secret = SECRET, raw: Buffer = body) => createHmac('sha256', secret).update(raw).digest('hex');

describe('isValidSignature (X-Hub-Signature-256)', () => {
  it('accepts the HMAC-SHA256 of the raw bytes, in lower or upper case hex', () => {
    expect(isValidSignature(body, `sha256=${hex()}`, SECRET)).to.equal(true);
    expect(isValidSignature(body, `sha256=${hex().toUpperCase()}`, SECRET)).to.equal(true);
  });

  it('refuses a signature made with another secret or over other bytes', () => {
    expect(isValidSignature(body, `sha256=${hex('other-secret')}`, SECRET)).to.equal(false);
    // Re-serialised JSON (unescaped unicode) is different bytes: the signature no longer holds.
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(body.toString('utf8'))));
    expect(isValidSignature(reserialised, `sha256=${hex()}`, SECRET)).to.equal(false);
  });

  it('refuses wrong lengths without throwing', () => {
    expect(isValidSignature(body, `sha256=${hex().slice(0, 62)}`, SECRET)).to.equal(false);
    expect(isValidSignature(body, `sha256=${hex()}00`, SECRET)).to.equal(false);
    expect(isValidSignature(body, 'sha256=', SECRET)).to.equal(false);
  });

  it('refuses non-hex digits (Buffer.from(hex) would silently stop at them)', () => {
    const valid = hex();
    expect(isValidSignature(body, `sha256=${valid.slice(0, 63)}z`, SECRET)).to.equal(false);
    expect(isValidSignature(body, `sha256=${'zz'.repeat(32)}`, SECRET)).to.equal(false);
    expect(isValidSignature(body, `sha256= ${valid}`, SECRET)).to.equal(false);
    // The valid digest followed by garbage or an odd nibble is still a malformed header.
    expect(isValidSignature(body, `sha256=${valid}zz`, SECRET)).to.equal(false);
    expect(isValidSignature(body, `sha256=${valid}0`, SECRET)).to.equal(false);
    expect(isValidSignature(body, `sha256=${valid} `, SECRET)).to.equal(false);
  });

  it('refuses a missing header, a missing or different prefix, and the legacy sha1 header', () => {
    expect(isValidSignature(body, undefined, SECRET)).to.equal(false);
    expect(isValidSignature(body, '', SECRET)).to.equal(false);
    expect(isValidSignature(body, hex(), SECRET)).to.equal(false);
    expect(isValidSignature(body, `SHA256=${hex()}`, SECRET)).to.equal(false);
    const sha1 = createHmac('sha1', SECRET).update(body).digest('hex');
    expect(isValidSignature(body, `sha1=${sha1}`, SECRET)).to.equal(false);
  });
});
