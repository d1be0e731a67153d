"""MOFCOM sandbox: a stand-in for the Ministry of Commerce's system, run as its own process
(``python -m ail_sandbox.mofcom``). In-memory state, reset with ``POST /control/reset``.

What it does (its HTTP API is in ``app.py``):

* answers the eligibility pre-check from its catalogue (``POST /mofcom/eligibility``);
* registers e-key certificates at binding time (``POST /mofcom/certificates``) and verifies every
  submission's signature (ECDSA P-256 or RSA PKCS#1 v1.5, SHA-256) over the submitted canonical
  payload against them; a payload changed after signing is refused;
* accepts a valid submission with a form no. in the real format, once per ``Idempotency-Key``;
* refuses (422) a submission whose commodity breaks the form rules, and runs the first review by
  the contract-totals rule (goods not above the contract), both ``ail_shared.formrules``, the
  functions our own validation calls; a rejection's opinion is its machine code, then Chinese
  text (``contract_quantity_exceeded: 初审不通过：商品合计数量 …``);
* runs the first and second review after configurable delays, with fault modes on demand (contract
  totals must *equal* the goods', ``contract_totals_rule="equal"``; a random rejection rate per
  stage) and gives a license no. at approval; pushes each result to the submission service and
  serves a status query;
* accepts revocations while pending first review;
* misbehaves on demand (``POST /control``): time-outs, 500s, slow answers, duplicate and
  out-of-order result deliveries.
"""
