"""Durable entities (docs/architecture.md, "Entities"): small pieces of durable state
whose operations run one at a time, in order; their own app, label ``entities``."""
