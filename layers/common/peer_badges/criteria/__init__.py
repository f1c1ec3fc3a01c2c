"""The badge criteria language: a closed, versioned set of JSON documents (SPEC section 3).

Every document has a ``type`` (the discriminator) and ``schema_version`` (1). Each type is one module
of this package holding everything the type means: its model and validation, how one mentor is
evaluated (from bounded facts), and the set-based query of who qualifies and since when (used by
reconcile, definition backfills and preview). docs/criteria.md explains how to add one.

``base`` holds what every type shares; ``registry`` the closed set of types, the union over them and
``validate_criteria`` / ``parse_criteria`` for a document of any type. The package imports none of
them itself: a reader of one type (the stats read: ``milestone``) loads only that type's module.
"""
