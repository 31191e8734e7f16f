"""The deployment's PKI (SPEC §9): an offline root, an online issuing CA, server and device certificates.

``circulo pki`` runs it. Everything lives in one directory (``pki_dir``), laid out as
:mod:`circulo.pki.layout` describes (and docs/deployment.md, for backups). Private keys are
files of mode 0600 in that directory, never logged and never in the database; the database
holds only public facts (serials, expiry dates, revocations) so dashboards and alerts can
read them. The x509 objects are built by :mod:`circulo.pki.certs` (pure: keys and times in,
certificates out) with ``cryptography``'s builders.
"""
