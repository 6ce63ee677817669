"""Bulk operations: one operator action over many instances or failed compensations,
carried out by workers chunk by chunk (docs/architecture.md, "Bulk operations").

* **Fixed targets.** ``service.create`` resolves the filter (or the id list) once, in one
  transaction: a ``BulkItem`` row per target, in instance (or record) primary-key order.
  What the operator reviewed is what is changed; instances started afterwards are not.
* **Chunks.** ``chunks.run_chunk`` locks the operation row, takes the next ``chunk_size``
  pending items and applies the action to each in a savepoint of that one transaction,
  recording each item's outcome and the counts with it. A crash rolls the whole chunk
  back, so a restarted chunk neither misses nor repeats an instance.
* **One writer per change.** The per-target action is not done here: the caller passes
  ``apply``, which calls the DurableClient method of the single action (terminate,
  rewind, ...), so the bulk path changes an instance exactly as the single one does. A
  target that does not allow the action (a refusal the API would answer 4xx) is
  *skipped* with the refusal's message; anything else *failed* with its error.
* **Audit.** Each changed instance keeps the one audit entry of its single action, tagged
  with ``bulk_operation`` (and the operation's reason as its note when it has none).

Modules: ``actions`` (the actions and the checks of a request), ``service`` (create,
preview, cancel, read), ``chunks`` (run one chunk), ``states`` (snapshots). Callers use
``DurableClient`` (``workflows/bulk_client.py``), which passes its own single actions in.

Example::

    request = actions.check_request("terminate", filter={"status": ["running"]})
    operation = service.create("default", request, reason="bad deploy", by=user)
    while chunks.run_chunk(operation.pk, apply).more:
        ...
"""
