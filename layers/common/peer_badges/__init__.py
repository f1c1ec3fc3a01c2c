"""Shared layer of the peer-mentor badge backend: models, criteria, evaluation, data access, auth."""
