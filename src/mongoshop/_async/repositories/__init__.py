"""Repositories: one per collection, each declaring its indexes."""
