"""Energy certificates (SPEC §12): EnergyTag granular-certificate bundles issued by green settlements.

Pure core: :mod:`hours` (a settlement's production per meter and hour, pairs split by time),
:mod:`ids` (id ranges: allocation, partial takes), :mod:`records` (the ledger forms of
issuance and actions), :mod:`replay` (the registry rebuilt from a ledger, for verifiers),
:mod:`energytag` (the GC Registry API v2 export). Database shell: :mod:`registry`, SQL in
:mod:`queries`.
"""
