"""SQL of the certificate registry: issuer settings, the id counter, issuances, bundles, claims."""

from __future__ import annotations

from typing import LiteralString

ISSUER: LiteralString = """
SELECT issuing_body, country_of_issuance, connected_grid_identification, issue_market_zone,
       energy_source, expiry_days
  FROM certificate_issuer WHERE coop_id = %(coop_id)s
"""

SET_ISSUER: LiteralString = """
INSERT INTO certificate_issuer (coop_id, issuing_body, country_of_issuance, connected_grid_identification,
                                issue_market_zone, energy_source, expiry_days)
VALUES (%(coop_id)s, %(issuing_body)s, %(country_of_issuance)s, %(connected_grid_identification)s,
        %(issue_market_zone)s, %(energy_source)s, %(expiry_days)s)
ON CONFLICT (coop_id) DO UPDATE SET
    issuing_body = EXCLUDED.issuing_body, country_of_issuance = EXCLUDED.country_of_issuance,
    connected_grid_identification = EXCLUDED.connected_grid_identification,
    issue_market_zone = EXCLUDED.issue_market_zone, energy_source = EXCLUDED.energy_source,
    expiry_days = EXCLUDED.expiry_days, updated_at = now()
"""

# The holder of each assigned meter of a co-op (the others' certificates go to the treasury).
HOLDERS: LiteralString = """
SELECT a.device_id, a.holder FROM certificate_assignment a JOIN device d ON d.device_id = a.device_id
 WHERE d.coop_id = %(coop_id)s
"""

ASSIGN: LiteralString = """
INSERT INTO certificate_assignment (device_id, holder) VALUES (%(device_id)s, %(holder)s)
ON CONFLICT (device_id) DO UPDATE SET holder = EXCLUDED.holder, assigned_at = now()
"""

UNASSIGN: LiteralString = "DELETE FROM certificate_assignment WHERE device_id = %(device_id)s"

METER: LiteralString = "SELECT coop_id, kind FROM device WHERE device_id = %(device_id)s"

IS_MEMBER: LiteralString = "SELECT 1 FROM member WHERE coop_id = %(coop_id)s AND account = %(account)s"

DEVICES: LiteralString = """
SELECT device_id, rated_power_w, lat, lon, location_name FROM device
 WHERE coop_id = %(coop_id)s AND kind = 'meter'
"""

# The next ids, allocated in the settlement's transaction (the row lock holds until commit; a
# rollback gives them back).
ALLOCATE: LiteralString = """
UPDATE certificate_counter SET next_id = next_id + %(count)s WHERE id = 1 RETURNING next_id - %(count)s
"""

METADATA_ID: LiteralString = """
WITH new AS (
    INSERT INTO certificate_metadata (coop_id, issuing_body, country_of_issuance,
                                      connected_grid_identification, issue_market_zone, energy_source)
    VALUES (%(coop_id)s, %(issuing_body)s, %(country_of_issuance)s, %(connected_grid_identification)s,
            %(issue_market_zone)s, %(energy_source)s)
    ON CONFLICT DO NOTHING RETURNING id
)
SELECT id FROM new
UNION ALL
SELECT id FROM certificate_metadata
 WHERE (coop_id, issuing_body, country_of_issuance, connected_grid_identification, issue_market_zone,
        energy_source)
     = (%(coop_id)s, %(issuing_body)s, %(country_of_issuance)s, %(connected_grid_identification)s,
        %(issue_market_zone)s, %(energy_source)s)
LIMIT 1
"""

INSERT_ISSUANCES: LiteralString = """
WITH issued AS (
    INSERT INTO certificate_issuance (issuance_id, coop_id, device_id, range_start, range_end,
        production_start, production_end, metadata, device_capacity_w, device_location, location_name,
        issued_seq, issued_at, expires_at, settlement, hash)
    SELECT v.issuance_id, %(coop_id)s, v.device_id, v.range_start, v.range_end, v.hour,
           v.hour + interval '1 hour', %(metadata)s, d.rated_power_w, v.location, d.location_name,
           %(seq)s, %(issued_at)s, v.expires_at, %(settlement)s, v.hash
      FROM unnest(%(issuance_ids)s::text[], %(devices)s::text[], %(starts)s::bigint[], %(ends)s::bigint[],
                  %(hours)s::timestamptz[], %(locations)s::text[], %(expiries)s::timestamptz[],
                  %(hashes)s::text[])
           AS v(issuance_id, device_id, range_start, range_end, hour, location, expires_at, hash)
      JOIN device d ON d.device_id = v.device_id
    RETURNING id, range_start, range_end
)
INSERT INTO certificate_bundle (issuance, range_start, range_end, holder, status, last_seq)
SELECT i.id, i.range_start, i.range_end, v.holder, 'active', %(seq)s
  FROM issued i JOIN unnest(%(starts)s::bigint[], %(holders)s::text[]) AS v(range_start, holder)
    ON v.range_start = i.range_start
"""

BUNDLE_COLUMNS: LiteralString = """
b.id, b.range_start, b.range_end, i.coop_id, i.device_id, i.production_start, i.expires_at, b.holder,
b.status, b.beneficiary, b.period_start, b.period_end
"""

# Live bundles starting at the given ids, locked in id order (concurrent actions queue here
# after the ledger head lock anyway; the order keeps any other path deadlock-free).
LOCK_BUNDLES: LiteralString = (
    "SELECT "
    + BUNDLE_COLUMNS
    + """
  FROM certificate_bundle b JOIN certificate_issuance i ON i.id = b.issuance
 WHERE b.range_start = ANY(%(starts)s::bigint[]) AND b.status <> 'split'
 ORDER BY b.range_start
   FOR UPDATE OF b
"""
)

SETTLEMENT_BUNDLES: LiteralString = (
    "SELECT "
    + BUNDLE_COLUMNS
    + """
  FROM certificate_bundle b JOIN certificate_issuance i ON i.id = b.issuance
  JOIN reward_settlement s ON s.id = i.settlement
 WHERE s.settlement_id = %(settlement_id)s AND b.status <> 'split'
 ORDER BY b.range_start
   FOR UPDATE OF b
"""
)

UPDATE_BUNDLE: LiteralString = """
UPDATE certificate_bundle
   SET holder = %(holder)s, status = %(status)s, beneficiary = %(beneficiary)s,
       period_start = %(period_start)s, period_end = %(period_end)s, last_seq = %(seq)s, updated_at = now()
 WHERE id = %(bundle_id)s
"""

MARK_SPLIT: LiteralString = """
UPDATE certificate_bundle SET status = 'split', last_seq = %(seq)s, updated_at = now()
 WHERE id = %(bundle_id)s
"""

INSERT_PART: LiteralString = """
INSERT INTO certificate_bundle (issuance, range_start, range_end, holder, status, beneficiary,
                                period_start, period_end, parent, last_seq)
SELECT issuance, %(range_start)s, %(range_end)s, %(holder)s, %(status)s, %(beneficiary)s,
       %(period_start)s, %(period_end)s, id, %(seq)s
  FROM certificate_bundle WHERE id = %(bundle_id)s
RETURNING id
"""

INSERT_CLAIM: LiteralString = """
INSERT INTO certificate_claim (ids, bundle, beneficiary, period_start, period_end, claim_seq)
VALUES (int8range(%(range_start)s, %(range_end)s, '[]'), %(bundle_id)s, %(beneficiary)s,
        %(period_start)s, %(period_end)s, %(seq)s)
"""

LIST_BUNDLES: LiteralString = """
SELECT b.id, b.range_start, b.range_end, i.coop_id, i.device_id, i.production_start, i.expires_at,
       b.holder, b.status, b.beneficiary, b.period_start, b.period_end, i.issued_seq, b.last_seq,
       i.issuance_id
  FROM certificate_bundle b JOIN certificate_issuance i ON i.id = b.issuance
 WHERE b.status <> 'split'
   AND (%(coop_id)s::text IS NULL OR i.coop_id = %(coop_id)s)
   AND (%(holder)s::text IS NULL OR b.holder = %(holder)s)
   AND (%(status)s::text IS NULL OR b.status = %(status)s)
   AND (%(device_id)s::text IS NULL OR i.device_id = %(device_id)s)
   AND (%(since)s::timestamptz IS NULL OR i.production_start >= %(since)s)
   AND (%(until)s::timestamptz IS NULL OR i.production_start < %(until)s)
 ORDER BY b.range_start
 LIMIT %(limit)s
"""

# The live bundle holding a certificate id, with its issuance's facts.
BUNDLE_OF_ID: LiteralString = """
SELECT b.id, b.range_start, b.range_end, i.coop_id, i.device_id, i.production_start, i.expires_at,
       b.holder, b.status, b.beneficiary, b.period_start, b.period_end, i.issued_seq, b.last_seq,
       i.issuance_id, i.range_start, i.range_end, i.hash, i.issued_at, i.device_capacity_w,
       i.device_location, i.location_name, s.settlement_id
  FROM certificate_bundle b JOIN certificate_issuance i ON i.id = b.issuance
  JOIN reward_settlement s ON s.id = i.settlement
 WHERE b.status <> 'split' AND b.range_start <= %(id)s AND %(id)s <= b.range_end
"""

# The action records that named any of these ids after their issuance, oldest first (the ledger
# is the bundle's history; a show command can afford the scan of the records after it).
HISTORY: LiteralString = """
SELECT e.seq, e.ts, e.reason, e.account, e.hash FROM ledger_entry e
 WHERE e.kind = 'record' AND e.reason LIKE 'certificate.%%' AND e.seq > %(issued_seq)s
   AND EXISTS (SELECT 1 FROM jsonb_array_elements(e.sources -> 0 -> 'ranges') r
                WHERE (r ->> 'range_start')::bigint <= %(range_end)s
                  AND (r ->> 'range_end')::bigint >= %(range_start)s)
 ORDER BY e.seq
"""

CLAIMS_OF_SETTLEMENT: LiteralString = """
SELECT b.range_start, b.range_end, b.beneficiary FROM certificate_bundle b
  JOIN certificate_issuance i ON i.id = b.issuance JOIN reward_settlement s ON s.id = i.settlement
 WHERE s.settlement_id = %(settlement_id)s AND b.status = 'claimed'
 ORDER BY b.range_start
"""

EXPORT_BUNDLES: LiteralString = """
SELECT b.id, b.range_start, b.range_end, b.holder, b.status, b.beneficiary, i.issuance_id, i.coop_id,
       i.device_id, i.production_start, i.production_end, i.issued_at, i.expires_at, i.hash,
       i.device_capacity_w, i.device_location, i.location_name, i.issued_seq, b.last_seq,
       m.id, m.issuing_body, m.country_of_issuance, m.connected_grid_identification, m.issue_market_zone,
       m.energy_source, d.commissioned_at, d.registered_at, b.period_start, b.period_end
  FROM certificate_bundle b JOIN certificate_issuance i ON i.id = b.issuance
  JOIN certificate_metadata m ON m.id = i.metadata JOIN device d ON d.device_id = i.device_id
 WHERE b.status <> 'split'
   AND (%(coop_id)s::text IS NULL OR i.coop_id = %(coop_id)s)
   AND (%(since)s::timestamptz IS NULL OR i.production_start >= %(since)s)
   AND (%(until)s::timestamptz IS NULL OR i.production_start < %(until)s)
 ORDER BY b.range_start
"""
