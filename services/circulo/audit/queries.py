"""SQL of the operator audit trail (tables ``operator_audit`` and ``operator_audit_outcome``, 0009)."""

from __future__ import annotations

INSERT_START = """
INSERT INTO operator_audit (invocation, os_user, sudo_user, operator, host, pid, command, arguments, version)
VALUES (%(invocation)s, %(os_user)s, %(sudo_user)s, %(operator)s, %(host)s, %(pid)s, %(command)s,
        %(arguments)s, %(version)s)
RETURNING started_at, db_user
"""

INSERT_OUTCOME = """
INSERT INTO operator_audit_outcome (invocation, outcome, detail)
VALUES (%(invocation)s, %(outcome)s, %(detail)s)
"""

# An outcome that could only be written later (a backup's own, recorded by its restore).
INSERT_OUTCOME_IF_MISSING = """
INSERT INTO operator_audit_outcome (invocation, outcome, detail)
SELECT %(invocation)s, %(outcome)s, %(detail)s
WHERE EXISTS (SELECT 1 FROM operator_audit WHERE invocation = %(invocation)s)
ON CONFLICT (invocation) DO NOTHING
"""

LIST = """
SELECT a.invocation, a.started_at, a.os_user, a.sudo_user, a.operator, a.db_user,
       host(a.client_addr), a.host, a.pid, a.command, a.arguments, a.version,
       o.finished_at, o.outcome, o.detail
FROM operator_audit a LEFT JOIN operator_audit_outcome o USING (invocation)
WHERE (%(command)s::text IS NULL OR a.command = %(command)s OR a.command LIKE %(command)s || ' %%')
  AND (%(since)s::timestamptz IS NULL OR a.started_at >= %(since)s)
ORDER BY a.started_at DESC, a.invocation
LIMIT %(limit)s
"""
