SELECT entries AS "Entries", last_seq AS "Last seq" FROM dashboards.ledger_status
