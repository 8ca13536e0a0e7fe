"""Streams: each one joins Graph sources into the events of one OCSF class, batch by batch.

`registry` declares every stream (name, plugin, class, schema, settings block, features) in
one place; `base` holds what every stream repeats (checkpoint check, page-token restarts,
skipped records, the summary protocol); `devices` is the device stream and its plugin.

`users` is the user inventory (class 5003); `changes` tracks what changed in it between runs,
with `facts` (the remembered per-user documents and their pure merge rules). Every stream yields
`Batch`es (`batch.py`): events to deliver and the checkpoint to commit, under the stream's own
name, once they are delivered, with the store writes (`StoreWrites`) that belong to them.
"""
