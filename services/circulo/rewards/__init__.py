"""The rewards engine: policy, pure reward rules, settlement and the daemon (SPEC §4, §5)."""
