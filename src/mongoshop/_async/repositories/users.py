"""The users collection: e-mail uniqueness, filters, search tokens, statistics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from mongoshop._async.repositories.base import NEWEST_FIRST, AsyncRepository
from mongoshop.clock import utcnow
from mongoshop.errors import DuplicateEmail, NotFound
from mongoshop.models.common import Document, dotted, parse_object_id
from mongoshop.models.users import (
    Role,
    UserContact,
    UserFilter,
    UserInDB,
    UserPreferences,
    UserStats,
    UserStatus,
    UserSummary,
)
from mongoshop.observability.tracing import traced
from mongoshop.search import index_tokens, query_tokens, split_all


def user_document(
    *,
    name: str,
    email: str,
    password_hash: str,
    age: int | None = None,
    preferences: UserPreferences | None = None,
    roles: Sequence[Role] = (Role.USER,),
    status: UserStatus = UserStatus.ACTIVE,
    email_verified: bool = True,
    welcome: bool = True,
) -> Document:
    """The stored shape of a new user (shared with the seed command's batch insert).

    `email_verified` is False only for a self-registration, until its code is used.
    `welcome` False: the worker never welcomes this account (users created in bulk,
    who did not ask for an account; a welcome each would be a burst of mail).
    """
    now = utcnow()
    return {
        **registration_fields(name, email, password_hash, age, preferences, now),
        "email": email.lower(),
        "status": status.value,
        "roles": [role.value for role in roles],
        "created_at": now,
        "last_login": None,
        "login_count": 0,
        "email_verified": email_verified,
        "email_verified_at": now if email_verified else None,
        "welcome": welcome,
        **traced(),
    }


def registration_fields(
    name: str,
    email: str,
    password_hash: str,
    age: int | None,
    preferences: UserPreferences | None,
    now: datetime,
) -> Document:
    """What a registration decides of an account: stored when it is created, and written
    again by the next registration of an address nobody has confirmed yet (which also
    ends the account's sessions)."""
    return {
        "name": name,
        "age": age,
        "preferences": (preferences or UserPreferences()).model_dump(),
        "password_hash": password_hash,
        "search_tokens": index_tokens(name, email),
        "updated_at": now,
    }


class AsyncUserRepository(AsyncRepository[UserInDB]):
    collection_name = "users"
    model = UserInDB
    listing_fields: ClassVar[frozenset[str]] = frozenset(
        {"status", "roles", "search_tokens", "created_at"}
    )
    """What `list_page` filters or sorts on: a login or a profile change moves no page."""
    indexes: ClassVar[Sequence[IndexModel]] = (
        # E-mails are stored lower-cased, so a plain unique index is case-insensitive.
        IndexModel([("email", ASCENDING)], unique=True, name="email_unique"),
        IndexModel([("status", ASCENDING)], name="status"),
        # The lists sort by NEWEST_FIRST, _id included: an index serves that sort only
        # if it ends with both keys (one on created_at alone leaves a blocking SORT,
        # and with no filter a COLLSCAN).
        IndexModel(
            [("status", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
            name="status_newest",
        ),
        IndexModel(
            [("roles", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
            name="roles_newest",
        ),
        IndexModel([("search_tokens", ASCENDING)], name="search_tokens"),
        IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="newest"),
        # Reconciling welcomes after a lost stream history: users verified since then.
        IndexModel([("email_verified_at", ASCENDING)], name="verified_at", sparse=True),
        # Unconfirmed accounts past their code: only they carry the field.
        IndexModel([("unconfirmed_until", ASCENDING)], name="unconfirmed_until", sparse=True),
    )

    async def contact_by_email(self, email: str) -> Document | None:
        """The name, address, preferences and confirmation of the account of `email`
        (what telling its owner about a registration needs), None if there is none."""
        found = await self.find_documents(
            {"email": email.lower()},
            projection={"name": 1, "email": 1, "preferences": 1, "email_verified": 1},
            limit=1,
        )
        return found[0] if found else None

    async def insert_user(
        self, document: Mapping[str, Any], *, session: AsyncClientSession | None = None
    ) -> UserInDB:
        """Insert a new user; the unique index, not a prior read, decides duplicates."""
        try:
            new_id = await self.create(document, session=session)
        except DuplicateKeyError as exc:
            if "email" in (exc.details or {}).get("keyPattern", {}):
                raise DuplicateEmail(f"e-mail {document['email']} is already registered") from None
            raise
        return self.to_model({**document, "_id": new_id})

    async def registered_since(
        self, since: datetime, *, batch_size: int = 500
    ) -> AsyncIterator[UserInDB]:
        """Users registered since `since`: created with a confirmed address then, or
        confirmed then; streamed in batches (what a lost stream's events would have
        told: their welcome, their `user.registered`)."""
        async for user in self.iterate(
            {
                "$or": [
                    {"created_at": {"$gte": since}, "email_verified": {"$ne": False}},
                    {"email_verified_at": {"$gte": since}},
                ]
            },
            batch_size=batch_size,
        ):
            yield user

    async def find_by_email(
        self, email: str, *, session: AsyncClientSession | None = None
    ) -> UserInDB | None:
        return await self.find_one({"email": email.lower()}, session=session)

    async def ids_by_email(self, emails: Sequence[str]) -> dict[str, ObjectId]:
        """The ids of the users with these e-mails (one query on the unique index)."""
        documents = await self.find_documents(
            {"email": {"$in": [email.lower() for email in emails]}},
            projection={"email": 1},
            limit=len(emails),
        )
        return {document["email"]: document["_id"] for document in documents}

    async def contacts(self, ids: Sequence[ObjectId]) -> dict[ObjectId, UserContact]:
        """The name and e-mail of each of these users that exists (one query on `_id`)."""
        unique_ids = list(dict.fromkeys(ids))
        if not unique_ids:
            return {}
        documents = await self.find_documents(
            {"_id": {"$in": unique_ids}},
            projection={"name": 1, "email": 1},
            limit=len(unique_ids),
        )
        return {
            document["_id"]: UserContact(
                id=str(document["_id"]), name=document["name"], email=document["email"]
            )
            for document in documents
        }

    async def set_fields(
        self,
        user_id: ObjectId | str,
        fields: Mapping[str, Any],
        *,
        session: AsyncClientSession | None = None,
    ) -> UserInDB:
        """``$set`` the fields and return the user after the update; `NotFound` if absent."""
        user = await self.update_and_get(
            {"_id": parse_object_id(user_id)}, {"$set": dict(fields)}, session=session
        )
        if user is None:
            raise NotFound(f"user {user_id} not found")
        return user

    async def change(
        self,
        user_id: ObjectId | str,
        fields: Mapping[str, Any],
        at: datetime,
        *,
        end_sessions: bool = False,
    ) -> UserInDB:
        """A partial update of a user's fields (as `UserInDB` names them, JSON values), with
        what is stored beside them: a new name's search tokens, the time of the change and,
        when it ends the user's sessions, since when their tokens are refused. A
        `preferences` object changes only the preferences it holds."""
        stored = dict(fields)
        if "name" in stored:
            current = await self.get(user_id)
            stored["search_tokens"] = index_tokens(stored["name"], current.email)
        stored["updated_at"] = at
        if end_sessions:
            stored["sessions_revoked_at"] = at
        return await self.set_fields(user_id, dotted(stored, {"preferences"}))

    async def replace_unconfirmed(
        self,
        user_id: ObjectId,
        fields: Mapping[str, Any],
        *,
        session: AsyncClientSession | None = None,
    ) -> UserInDB | None:
        """``$set`` a new registration's fields (`registration_fields`) only while the
        account's address is unconfirmed, and end its sessions; the user after it, or None
        when it was confirmed (or removed) meanwhile."""
        update = {**fields, "sessions_revoked_at": fields.get("updated_at") or utcnow()}
        return await self.update_and_get(
            {"_id": user_id, "email_verified": False}, {"$set": update}, session=session
        )

    async def code_sent(
        self, user_id: ObjectId, at: datetime, until: datetime, *, session: AsyncClientSession
    ) -> None:
        """A new code was sent at `at`: only it confirms the address, and the account, while
        unconfirmed, lasts as long as it (`expired_unconfirmed`)."""
        await self.update(
            {"_id": user_id},
            {"$set": {"verification_sent_at": at, "unconfirmed_until": until}},
            session=session,
        )

    async def confirm(self, user_id: ObjectId, at: datetime) -> UserInDB:
        """Mark the address confirmed at `at` (it no longer expires); the user after it."""
        user = await self.update_and_get(
            {"_id": user_id},
            {
                "$set": {"email_verified": True, "email_verified_at": at, "updated_at": at},
                "$unset": {"unconfirmed_until": ""},
            },
        )
        if user is None:
            raise NotFound(f"user {user_id} not found")
        return user

    async def expired_unconfirmed(self, now: datetime, *, limit: int) -> list[ObjectId]:
        """Up to `limit` unconfirmed accounts whose latest code expired before `now` (the
        sparse index holds the unconfirmed accounts only: the read costs what it finds)."""
        documents = await self.find_documents(
            {"unconfirmed_until": {"$lt": now}, "email_verified": False},
            projection={"_id": 1},
            limit=limit,
        )
        return [document["_id"] for document in documents]

    async def delete_expired_unconfirmed(
        self, user_id: ObjectId, now: datetime, *, session: AsyncClientSession
    ) -> bool:
        """Delete the account if it is still unconfirmed and expired (not confirmed, nor sent
        a new code, meanwhile); whether it was."""
        deleted = await self.delete(
            {"_id": user_id, "email_verified": False, "unconfirmed_until": {"$lt": now}},
            session=session,
        )
        return deleted == 1

    async def keep_unconfirmed(self, user_id: ObjectId) -> None:
        """Stop expiring this unconfirmed account (its wallet has seen money): it stays,
        unconfirmed, until its owner confirms it or an admin decides."""
        await self.update(
            {"_id": user_id, "email_verified": False}, {"$unset": {"unconfirmed_until": ""}}
        )

    async def record_login(
        self, user_id: ObjectId, at: datetime, password_hash: str
    ) -> UserInDB | None:
        """Count a login, only while the account is active and its password is still the one
        just verified (`password_hash`); None otherwise (disabled, or the password changed
        between the check and now: the login must not go through)."""
        return await self.update_and_get(
            {"_id": user_id, "status": UserStatus.ACTIVE.value, "password_hash": password_hash},
            {"$inc": {"login_count": 1}, "$set": {"last_login": at, "updated_at": at}},
        )

    @staticmethod
    def filters_for(criteria: UserFilter) -> list[Document] | None:
        """The admin list's ``$match`` filters, leading one first; None matches nothing.

        Words lead, as an equality on the rarest-looking one (see
        `mongoshop.search.split_all`); status and role go with it.
        """
        leading: Document = {}
        after: Document = {}
        if criteria.status is not None:
            leading["status"] = criteria.status.value
        if criteria.role is not None:
            leading["roles"] = criteria.role.value
        if criteria.q:
            tokens = query_tokens(criteria.q)
            if not tokens:  # no usable word: nothing, rather than everything
                return None
            first, after = split_all("search_tokens", tokens)
            leading |= first
        return [leading, after]

    async def list_page(
        self, criteria: UserFilter, *, skip: int, limit: int
    ) -> tuple[list[UserInDB], int]:
        """One page of users, newest first, and the total number of matches."""
        filters = self.filters_for(criteria)
        if filters is None:
            return [], 0
        return await self.page(filters, NEWEST_FIRST, skip=skip, limit=limit)

    async def search(self, text: str, *, limit: int = 20) -> list[UserInDB]:
        """Users whose name or e-mail has a word starting with every word of `text`."""
        found, _ = await self.list_page(UserFilter(q=text), skip=0, limit=limit)
        return found

    async def find_by_role(self, role: Role, *, skip: int = 0, limit: int = 100) -> list[UserInDB]:
        return await self.find_many(
            {"roles": role.value}, sort=NEWEST_FIRST, skip=skip, limit=limit
        )

    async def bulk_update_status(
        self, user_ids: Sequence[ObjectId], status: UserStatus, at: datetime
    ) -> int:
        """Set the status of many users at once; how many actually changed."""
        fields: Document = {"status": status.value, "updated_at": at}
        if status is not UserStatus.ACTIVE:
            fields["sessions_revoked_at"] = at
        result = await self.collection.update_many(
            {"_id": {"$in": list(user_ids)}, "status": {"$ne": status.value}},
            {"$set": fields},
        )
        return result.modified_count

    async def statistics(self, month_start: datetime) -> UserStats:
        """The dashboard figures in one round trip (one ``$facet``)."""
        pipeline: list[Document] = [
            {
                "$facet": {
                    "total": [{"$count": "count"}],
                    "by_status": [{"$group": {"_id": "$status", "count": {"$sum": 1}}}],
                    "signups_this_month": [
                        {"$match": {"created_at": {"$gte": month_start}}},
                        {"$count": "count"},
                    ],
                    "top_by_logins": [
                        {"$sort": {"login_count": -1, "_id": 1}},
                        {"$limit": 10},
                        {"$project": {"name": 1, "email": 1, "login_count": 1}},
                    ],
                }
            }
        ]
        cursor = await self.collection.aggregate(pipeline)
        facets = (await cursor.to_list())[0]
        by_status = {status: 0 for status in UserStatus}
        for row in facets["by_status"]:
            if row["_id"] in UserStatus._value2member_map_:
                by_status[UserStatus(row["_id"])] = row["count"]
        return UserStats(
            total=facets["total"][0]["count"] if facets["total"] else 0,
            by_status=by_status,
            signups_this_month=(
                facets["signups_this_month"][0]["count"] if facets["signups_this_month"] else 0
            ),
            top_by_logins=[
                UserSummary(
                    id=str(row["_id"]),
                    name=row["name"],
                    email=row["email"],
                    login_count=row.get("login_count", 0),
                )
                for row in facets["top_by_logins"]
            ],
        )
