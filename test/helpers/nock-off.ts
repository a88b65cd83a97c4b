// For tests that make real requests to a loopback server in a mocha process where another
// file may have loaded nock.
import nock from 'nock';

/**
 * Turns nock off for the enclosing describe and back on after it, when an earlier file in
 * this worker process loaded it: these tests make real requests to a loopback server, and
 * nock would otherwise judge them by whatever net-connect rule that file left, and its
 * requests never go back to an agent's pool.
 */
export function nockOffWhileRunning(): void {
  let wasNockActive = false;
  before(() => {
    wasNockActive = nock.isActive();
    if (wasNockActive) nock.restore();
  });
  after(() => {
    if (wasNockActive && !nock.isActive()) nock.activate();
  });
}
