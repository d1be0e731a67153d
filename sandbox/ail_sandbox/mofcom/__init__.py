"""MOFCOM sandbox: a stand-in for the Ministry of Commerce's system, run as its own process
(``python -m ail_sandbox.mofcom``). In-memory state, reset with ``POST /control/reset``.

What it does (its HTTP API is in ``app.py``):

* answers the eligibility pre-check from its catalogue (``POST /mofcom/eligibility``);
* registers e-key certificates at binding time (``POST /mofcom/certificates``) and verifies every
  submission's signature (ECDSA P-256 or RSA PKCS#1 v1.5, SHA-256) over the submitted canonical
  payload against them; a payload changed after signing is refused;
* accepts a valid submission with a form no. in the real format, once per ``Idempotency-Key``;
* runs the first and second review after configurable delays by configurable rules (contract
  totals must match goods totals; a random rejection rate per stage) and gives a license no. at
  approval; pushes each result to the submission service and serves a status query;
* accepts revocations while pending first review;
* misbehaves on demand (``POST /control``): time-outs, 500s, slow answers, duplicate and
  out-of-order result deliveries.
"""
