// Differential test driver for threshold/frost against @noble/curves'
// ed25519_FROST (RFC 9591). Reads one JSON request on stdin, writes one
// JSON answer on stdout. argv[2] is the directory holding node_modules.
// Every byte string is hex. See differential_test.go.
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const mod = await import(pathToFileURL(path.join(process.argv[2], 'node_modules/@noble/curves/ed25519.js')).href);
const F = mod.ed25519_FROST;
const hex = (b) => Buffer.from(b).toString('hex');
const bin = (h) => new Uint8Array(Buffer.from(h, 'hex'));

let input = '';
for await (const chunk of process.stdin) input += chunk;
const req = JSON.parse(input);
const msg = bin(req.msg);
const out = {};

// The Go dealer's key, as noble's public package.
const pub = {
  signers: { min: req.go.min, max: req.go.max },
  commitments: req.go.commitments.map(bin),
  verifyingShares: Object.fromEntries(Object.entries(req.go.verifyingShares).map(([k, v]) => [k, bin(v)])),
};
const secrets = Object.fromEntries(Object.entries(req.go.shares).map(([k, v]) => [k, { identifier: k, signingShare: bin(v) }]));

// 1. noble checks every Go share with its vss_verify (throws if bad), then
//    signs alone with two of them.
for (const s of Object.values(secrets)) F.validateSecret(s, pub);
{
  const ids = Object.keys(secrets).slice(0, 2);
  const round1 = ids.map((id) => F.commit(secrets[id]));
  const list = round1.map((r) => r.commitments);
  const shares = {};
  ids.forEach((id, i) => { shares[id] = F.signShare(secrets[id], pub, round1[i].nonces, list, msg); });
  out.nobleSignsGoKey = hex(F.aggregate(pub, list, msg, shares));
}

// 2. A mixed session: Go is participant A (commitment and share given),
//    noble is participant B with nonces from the given randomness. noble
//    checks Go's share, signs its own and aggregates both.
{
  const a = req.mixed.a;
  const bId = req.mixed.b;
  let off = 0;
  const rand = bin(req.mixed.bRandomness);
  const rng = (n) => { const r = rand.slice(off, off + n); off += n; if (r.length !== n) throw new Error('rng exhausted'); return r; };
  const round1 = F.commit(secrets[bId], rng);
  const list = [{ identifier: a.identifier, hiding: bin(a.hiding), binding: bin(a.binding) }, round1.commitments];
  list.sort((x, y) => (x.identifier < y.identifier ? -1 : 1));
  const bShare = F.signShare(secrets[bId], pub, round1.nonces, list, msg);
  out.mixed = {
    bHiding: hex(round1.commitments.hiding),
    bBinding: hex(round1.commitments.binding),
    bShare: hex(bShare),
    goShareVerifies: F.verifyShare(pub, list, msg, a.identifier, bin(a.share)),
    signature: hex(F.aggregate(pub, list, msg, { [a.identifier]: bin(a.share), [bId]: bShare })),
  };
}

// 3. noble's own dealer: its key for Go to parse and sign with, and a
//    signature made wholly by noble with its last two shares.
{
  const deal = F.trustedDealer({ min: 2, max: 3 });
  const ids = Object.keys(deal.secretShares);
  const round1 = ids.slice(1).map((id) => F.commit(deal.secretShares[id]));
  const list = round1.map((r) => r.commitments);
  const shares = {};
  ids.slice(1).forEach((id, i) => { shares[id] = F.signShare(deal.secretShares[id], deal.public, round1[i].nonces, list, msg); });
  out.nobleKey = {
    commitments: deal.public.commitments.map(hex),
    shares: Object.fromEntries(ids.map((id) => [id, hex(deal.secretShares[id].signingShare)])),
    signature: hex(F.aggregate(deal.public, list, msg, shares)),
  };
}
process.stdout.write(JSON.stringify(out));
