"""SQL of the leader lock and its fence epoch (``reward_leader``)."""

from __future__ import annotations

from typing import LiteralString

TRY_LOCK: LiteralString = "SELECT pg_try_advisory_lock(%(key)s)"

UNLOCK: LiteralString = "SELECT pg_advisory_unlock(%(key)s)"

BUMP_EPOCH: LiteralString = """
UPDATE reward_leader SET epoch = epoch + 1, holder = %(holder)s, acquired_at = now()
 WHERE id = 1 RETURNING epoch
"""

FENCE: LiteralString = "SELECT epoch FROM reward_leader WHERE id = 1 FOR SHARE"
