"""The operator audit trail: who ran which registry or ledger command, when, from where."""
