/* Circulo member statement: checks this page's entries offline, in the browser.
 *
 * For each entry: its hash is SHA-256(prev_hash bytes || JCS(entry without hash and sig))
 * (RFC 8785 canonical JSON; format 1 entries also without "format"); its leaf
 * SHA-256(0x00 || hash) is at index seq - 1 of the RFC 6962 Merkle tree whose root the
 * checkpoint names (the inclusion proof's path, checked with RFC 9162's algorithm); and the
 * checkpoint {size, root, ts} is signed (Ed25519 over its JCS) by the co-op's public key,
 * which the page reads from the element #circulo-pinned-key written from the co-op's
 * configuration - never from the statement data it checks. Entry signatures are checked
 * too where the entry names the pinned key.
 *
 * SHA-256 is WebCrypto's. Ed25519 is WebCrypto's where the browser has it, else the bundled
 * noble-ed25519 (also when the page's address ends in #ed25519=noble, to cross-check).
 * Nothing is fetched: the page's Content-Security-Policy allows no request at all.
 */
"use strict";

const CirculoStatement = (() => {
  const encoder = new TextEncoder();

  function hexToBytes(hex) {
    if (typeof hex !== "string" || !/^(?:[0-9a-f]{2})*$/.test(hex)) {
      throw new Error("not lowercase hex");
    }
    const bytes = new Uint8Array(hex.length / 2);
    for (let i = 0; i < bytes.length; i += 1) {
      bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
    }
    return bytes;
  }

  function bytesToHex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  function equalBytes(a, b) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }

  /* RFC 8785 for the values a ledger entry holds: objects, arrays, strings, integers of at most
   * 2^53 - 1, booleans and null. Strings are serialised as ECMAScript's JSON.stringify does
   * (which RFC 8785 adopts), object keys sorted by UTF-16 code units (the default sort). */
  function jcs(value) {
    if (value === null || typeof value === "boolean" || typeof value === "string") {
      return JSON.stringify(value);
    }
    if (typeof value === "number") {
      if (!Number.isSafeInteger(value)) {
        throw new Error("an entry holds only integers of at most 2^53 - 1");
      }
      return String(value);
    }
    if (Array.isArray(value)) {
      return "[" + value.map(jcs).join(",") + "]";
    }
    if (typeof value === "object") {
      const keys = Object.keys(value).sort();
      return "{" + keys.map((k) => JSON.stringify(k) + ":" + jcs(value[k])).join(",") + "}";
    }
    throw new Error("not JSON data: " + typeof value);
  }

  function signedBody(entry) {
    const dropped = entry.format === 1 ? ["hash", "sig", "format"] : ["hash", "sig"];
    return Object.fromEntries(Object.entries(entry).filter(([name]) => !dropped.includes(name)));
  }

  async function entryHash(entry) {
    const body = encoder.encode(jcs(signedBody(entry)));
    return bytesToHex(await sha256(concat(hexToBytes(entry.prev_hash), body)));
  }

  async function leafHash(entryHashBytes) {
    return sha256(concat(Uint8Array.of(0), entryHashBytes));
  }

  async function nodeHash(left, right) {
    return sha256(concat(Uint8Array.of(1), left, right));
  }

  /* RFC 9162 section 2.1.3.2: the root an inclusion path implies, or null. */
  async function rootFromInclusion(index, size, leaf, path) {
    if (!(Number.isSafeInteger(index) && Number.isSafeInteger(size) && index >= 0 && index < size)) {
      return null;
    }
    let fn = index;
    let sn = size - 1;
    let node = leaf;
    for (const sibling of path) {
      if (sn === 0 || sibling.length !== 32) {
        return null;
      }
      if (fn % 2 === 1 || fn === sn) {
        node = await nodeHash(sibling, node);
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      } else {
        node = await nodeHash(node, sibling);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    return sn === 0 ? node : null;
  }

  async function ed25519Verifier(publicKeyHex, preferFallback) {
    const publicKey = hexToBytes(publicKeyHex);
    if (!preferFallback) {
      try {
        const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
        return {
          name: "your browser's WebCrypto",
          verify: (sig, message) => crypto.subtle.verify({ name: "Ed25519" }, key, sig, message),
        };
      } catch (e) {
        /* no Ed25519 in this browser's WebCrypto: use the bundled library */
      }
    }
    return {
      name: "the bundled noble-ed25519 " + nobleEd25519.version,
      verify: (sig, message) => nobleEd25519.verifyAsync(sig, message, publicKey, { zip215: false }),
    };
  }

  async function checkCheckpoint(checkpoint, pinned, verifier) {
    if (checkpoint.key_id !== pinned.key_id) {
      return { ok: false, why: "the checkpoint names key " + checkpoint.key_id + ", not the co-op's key " + pinned.key_id };
    }
    const message = encoder.encode(jcs({ size: checkpoint.size, root: checkpoint.root, ts: checkpoint.ts }));
    let valid = false;
    try {
      valid = await verifier.verify(hexToBytes(checkpoint.sig), message);
    } catch (e) {
      valid = false;
    }
    return valid
      ? { ok: true, why: "signed by the co-op's key " + pinned.key_id }
      : { ok: false, why: "the checkpoint's signature does not verify under the co-op's key " + pinned.key_id };
  }

  async function checkProof(item, hashBytes, checkpoint) {
    const proof = item.proof;
    if (proof === null) {
      return { ok: null, why: "newer than the latest signed checkpoint: not provable yet" };
    }
    if (proof.index !== item.entry.seq - 1 || proof.size !== checkpoint.size) {
      return { ok: false, why: "the proof is not for this entry in the checkpoint's tree" };
    }
    const leaf = await leafHash(hashBytes);
    if (!equalBytes(leaf, hexToBytes(proof.leaf_hash))) {
      return { ok: false, why: "the proof's leaf is not this entry's hash" };
    }
    const root = await rootFromInclusion(proof.index, proof.size, leaf, proof.path.map(hexToBytes));
    if (root === null || bytesToHex(root) !== checkpoint.root) {
      return { ok: false, why: "the inclusion proof does not lead to the checkpoint's root" };
    }
    return { ok: true, why: "in the ledger: entry " + item.entry.seq + " of the checkpoint's " + checkpoint.size };
  }

  async function checkSignature(entry, hashBytes, pinned, verifier) {
    if (entry.key_id !== pinned.key_id) {
      return { ok: null, why: "signed by an earlier key " + entry.key_id + " (the checkpoint covers it)" };
    }
    let valid = false;
    try {
      valid = await verifier.verify(hexToBytes(entry.sig), hashBytes);
    } catch (e) {
      valid = false;
    }
    return valid ? { ok: true, why: "signed" } : { ok: false, why: "its signature does not verify" };
  }

  /* One entry's verdict: "ok", "fail", "unproven" (after the checkpoint) or "partial". */
  async function checkEntry(item, checkpoint, checkpointCheck, pinned, verifier) {
    const entry = item.entry;
    const reasons = [];
    let hashOk = true;
    if (item.withheld > 0) {
      reasons.push("some of its evidence describes other members and is not on this page, so its hash cannot be checked here");
    } else {
      let computed = "";
      try {
        computed = await entryHash(entry);
      } catch (e) {
        computed = "";
      }
      hashOk = computed === entry.hash;
      if (!hashOk) {
        reasons.push("its content was changed: the entry's hash does not match what it says");
      }
    }
    const hashBytes = hexToBytes(entry.hash);
    const proof = await checkProof(item, hashBytes, checkpoint);
    const signature = await checkSignature(entry, hashBytes, pinned, verifier);
    if (proof.ok === false) reasons.push(proof.why);
    if (signature.ok === false) reasons.push(signature.why);
    if (proof.ok === true && !checkpointCheck.ok) reasons.push(checkpointCheck.why);
    const failed = !hashOk || proof.ok === false || signature.ok === false || (proof.ok && !checkpointCheck.ok);
    if (failed) return { verdict: "fail", text: "Did not check out: " + reasons.join("; ") + "." };
    if (proof.ok === null) return { verdict: "unproven", text: proof.why + "." };
    if (item.withheld > 0) return { verdict: "partial", text: "In the signed ledger, but " + reasons.join("") + "." };
    return { verdict: "ok", text: "Checked: unchanged, " + proof.why + ", " + checkpointCheck.why + "." };
  }

  function balancesFromEntries(items) {
    const sums = {};
    for (const { entry } of items) {
      if (entry.kind === "record") continue;
      const sign = entry.kind === "mint" ? 1 : -1;
      sums[entry.token] = (sums[entry.token] || 0) + sign * entry.amount_micro;
    }
    return sums;
  }

  function readJson(id) {
    return JSON.parse(document.getElementById(id).textContent);
  }

  function show(element, verdict, text) {
    element.dataset.check = verdict;
    const slot = element.querySelector("[data-role=check]");
    if (slot) slot.textContent = text;
  }

  function showBalances(statement) {
    const sums = balancesFromEntries(statement.entries);
    let allMatch = true;
    for (const row of document.querySelectorAll("[data-balance]")) {
      const token = row.dataset.balance;
      const stated = statement.balances.find((b) => b.token === token);
      const match = stated !== undefined && (sums[token] || 0) === stated.amount_micro;
      allMatch = allMatch && match;
      show(row, match ? "ok" : "fail", match ? "matches your entries" : "does not match the sum of your entries");
    }
    return allMatch;
  }

  async function run() {
    const summary = document.getElementById("verification");
    try {
      const statement = readJson("circulo-statement");
      const pinned = readJson("circulo-pinned-key");
      const verifier = await ed25519Verifier(pinned.public_key, location.hash === "#ed25519=noble");
      document.getElementById("ed25519").textContent = verifier.name;
      document.getElementById("ed25519").dataset.impl = verifier.name.includes("noble") ? "noble" : "webcrypto";
      const checkpointCheck = await checkCheckpoint(statement.checkpoint, pinned, verifier);
      show(document.getElementById("checkpoint"), checkpointCheck.ok ? "ok" : "fail", checkpointCheck.why);
      const counts = { ok: 0, fail: 0, unproven: 0, partial: 0 };
      for (const item of statement.entries) {
        const element = document.getElementById("entry-" + item.entry.seq);
        const result = await checkEntry(item, statement.checkpoint, checkpointCheck, pinned, verifier);
        counts[result.verdict] += 1;
        if (element) show(element, result.verdict, result.text);
      }
      const balancesOk = showBalances(statement);
      const allOk = checkpointCheck.ok && counts.fail === 0 && balancesOk;
      summary.dataset.result = allOk ? "ok" : "fail";
      summary.textContent = allOk
        ? "Every entry on this page checked out (" + counts.ok + " proven" +
          (counts.unproven ? ", " + counts.unproven + " newer than the checkpoint" : "") +
          (counts.partial ? ", " + counts.partial + " partly" : "") + ")."
        : "Warning: " + (counts.fail || "some") + " " + (counts.fail === 1 ? "entry" : "entries or checks") +
          " did not check out. Do not rely on this page; tell your co-op.";
    } catch (e) {
      summary.dataset.result = "fail";
      summary.textContent = "This page could not be checked: " + e.message;
    }
    document.body.dataset.verification = "done";
  }

  return { run, jcs, entryHash, rootFromInclusion, hexToBytes, bytesToHex, ed25519Verifier };
})();

if (document.getElementById("circulo-statement")) {
  CirculoStatement.run();
}
