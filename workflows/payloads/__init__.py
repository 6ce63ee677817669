"""Stored payloads: encryption at rest, compression, large payloads by reference.

See docs/architecture.md, "Payloads", and README, "Payloads".
"""
