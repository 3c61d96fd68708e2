"""The benchmarks' filler: a batch sent twice is inserted once, a real clash still fails."""

from __future__ import annotations

import pytest
from benchmarks.filler import insert_all
from bson import ObjectId
from pymongo import MongoClient
from pymongo.errors import BulkWriteError

from mongoshop.models.common import Document


def test_a_batch_sent_again_after_the_server_applied_it_is_not_an_error(
    sync_client: MongoClient[Document], database_name: str
) -> None:
    collection = sync_client[database_name].people
    collection.create_index("email", unique=True)
    batch = [{"_id": ObjectId(), "email": f"p{n}@example.com"} for n in range(5)]
    try:
        insert_all(collection, batch[:3])
        insert_all(collection, batch)

        assert sorted(d["email"] for d in collection.find()) == [d["email"] for d in batch]
    finally:
        sync_client.drop_database(database_name)


def test_a_different_document_with_a_taken_key_is_still_refused(
    sync_client: MongoClient[Document], database_name: str
) -> None:
    collection = sync_client[database_name].people
    collection.create_index("email", unique=True)
    try:
        insert_all(collection, [{"_id": ObjectId(), "email": "taken@example.com"}])

        with pytest.raises(BulkWriteError):
            insert_all(collection, [{"_id": ObjectId(), "email": "taken@example.com"}])
    finally:
        sync_client.drop_database(database_name)
