"""The co-op decides (SPEC §14): member keys, proposals, ballots and tallies on the ledger."""
