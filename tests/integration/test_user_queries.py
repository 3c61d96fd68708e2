"""Search, the admin list, roles and the dashboard statistics."""

from __future__ import annotations

from datetime import timedelta

from mongoshop._async.shop import AsyncShop
from mongoshop.clock import start_of_month, utcnow
from mongoshop.models.common import PageRequest
from mongoshop.models.users import Role, UserCreate, UserFilter, UserInDB, UserStatus
from tests.integration.helpers import user_document


async def register(ashop: AsyncShop, name: str, email: str) -> UserInDB:
    return await ashop.users.register(UserCreate(name=name, email=email, password="password-1"))


async def names_found(ashop: AsyncShop, text: str) -> list[str]:
    return [user.name for user in await ashop.users.search(text)]


async def add_search_people(ashop: AsyncShop) -> None:
    """Registered in this order, so newest first is the reverse."""
    await register(ashop, "Élodie Dupont", "u1@example.org")
    await register(ashop, "Élodie Martin", "u2@example.org")
    await register(ashop, "Éloïse Bernard", "u3@example.org")
    await register(ashop, "Marc Dupont", "u4@example.org")


async def test_search_finds_accented_names_by_an_unaccented_prefix(ashop: AsyncShop) -> None:
    await add_search_people(ashop)

    assert await names_found(ashop, "elo") == ["Éloïse Bernard", "Élodie Martin", "Élodie Dupont"]


async def test_search_ignores_case_and_accents_of_the_query(ashop: AsyncShop) -> None:
    await add_search_people(ashop)

    expected = ["Élodie Martin", "Élodie Dupont"]
    assert await names_found(ashop, "ELODIE") == expected
    assert await names_found(ashop, "Élodie") == expected
    assert await names_found(ashop, "éLOD") == expected


async def test_search_requires_every_word_of_the_query(ashop: AsyncShop) -> None:
    await add_search_people(ashop)

    assert await names_found(ashop, "elodie dupont") == ["Élodie Dupont"]
    assert await names_found(ashop, "Dupont, Élo") == ["Élodie Dupont"]
    assert await names_found(ashop, "dup") == ["Marc Dupont", "Élodie Dupont"]
    assert await names_found(ashop, "elodie bernard") == []


async def test_search_matches_word_prefixes_only(ashop: AsyncShop) -> None:
    await add_search_people(ashop)

    assert await names_found(ashop, "lodie") == []
    assert await names_found(ashop, "pont") == []


async def test_search_matches_words_of_the_email_too(ashop: AsyncShop) -> None:
    await add_search_people(ashop)

    assert await names_found(ashop, "u3") == ["Éloïse Bernard"]


async def test_search_with_no_usable_word_finds_nothing(ashop: AsyncShop) -> None:
    await add_search_people(ashop)

    assert await names_found(ashop, "  ") == []
    assert await names_found(ashop, "e") == []
    assert await names_found(ashop, ".*") == []
    assert await names_found(ashop, '{"$ne": null}') == []


async def test_search_returns_at_most_limit_users(ashop: AsyncShop) -> None:
    await add_search_people(ashop)

    found = await ashop.users.search("elo", limit=2)

    assert [user.name for user in found] == ["Éloïse Bernard", "Élodie Martin"]


async def add_list_people(ashop: AsyncShop) -> None:
    """Seven users, one day apart, `n` days old."""
    now = utcnow()
    people = [
        ("Anna Active", UserStatus.ACTIVE, (Role.USER,)),
        ("Boris Active", UserStatus.ACTIVE, (Role.USER, Role.ADMIN)),
        ("Carla Suspended", UserStatus.SUSPENDED, (Role.USER,)),
        ("Dan Active", UserStatus.ACTIVE, (Role.USER,)),
        ("Eve Inactive", UserStatus.INACTIVE, (Role.USER,)),
        ("Fay Suspended", UserStatus.SUSPENDED, (Role.USER, Role.ADMIN)),
        ("Gus Active", UserStatus.ACTIVE, (Role.ADMIN,)),
    ]
    await ashop.repositories.users.insert_many_new(
        [
            user_document(
                name,
                f"{name.split()[0].lower()}@list.test",
                status=status,
                roles=roles,
                created_at=now - timedelta(days=n),
            )
            for n, (name, status, roles) in enumerate(people)
        ]
    )


async def test_list_page_without_filters_pages_through_everyone_newest_first(
    ashop: AsyncShop,
) -> None:
    await add_list_people(ashop)

    first = await ashop.users.list_page(UserFilter(), PageRequest(page=1, page_size=3))
    third = await ashop.users.list_page(UserFilter(), PageRequest(page=3, page_size=3))
    beyond = await ashop.users.list_page(UserFilter(), PageRequest(page=4, page_size=3))

    assert [user.name.split()[0] for user in first.items] == ["Anna", "Boris", "Carla"]
    assert (first.total, first.page, first.page_size, first.total_pages) == (7, 1, 3, 3)
    assert [user.name.split()[0] for user in third.items] == ["Gus"]
    assert third.total == 7
    assert beyond.items == []
    assert beyond.total == 7


async def test_list_page_filters_by_status(ashop: AsyncShop) -> None:
    await add_list_people(ashop)

    page = await ashop.users.list_page(
        UserFilter(status=UserStatus.ACTIVE), PageRequest(page=1, page_size=3)
    )

    assert [user.name for user in page.items] == ["Anna Active", "Boris Active", "Dan Active"]
    assert (page.total, page.total_pages) == (4, 2)


async def test_list_page_filters_by_role(ashop: AsyncShop) -> None:
    await add_list_people(ashop)

    page = await ashop.users.list_page(UserFilter(role=Role.ADMIN), PageRequest(page_size=20))

    assert [user.name for user in page.items] == ["Boris Active", "Fay Suspended", "Gus Active"]
    assert (page.total, page.total_pages) == (3, 1)


async def test_list_page_filters_by_text(ashop: AsyncShop) -> None:
    await add_list_people(ashop)

    page = await ashop.users.list_page(UserFilter(q="susp"), PageRequest())

    assert [user.name for user in page.items] == ["Carla Suspended", "Fay Suspended"]
    assert page.total == 2


async def test_list_page_combines_every_filter(ashop: AsyncShop) -> None:
    await add_list_people(ashop)

    page = await ashop.users.list_page(
        UserFilter(q="active", status=UserStatus.ACTIVE, role=Role.ADMIN), PageRequest()
    )
    nothing = await ashop.users.list_page(
        UserFilter(q="eve", status=UserStatus.ACTIVE), PageRequest()
    )

    assert [user.name for user in page.items] == ["Boris Active", "Gus Active"]
    assert page.total == 2
    assert (nothing.items, nothing.total, nothing.total_pages) == ([], 0, 0)


async def test_find_by_role_returns_only_users_with_that_role(ashop: AsyncShop) -> None:
    await add_list_people(ashop)

    admins = await ashop.users.find_by_role(Role.ADMIN)
    plain = await ashop.users.find_by_role(Role.USER, limit=2)

    assert [user.name for user in admins] == ["Boris Active", "Fay Suspended", "Gus Active"]
    assert [user.name for user in plain] == ["Anna Active", "Boris Active"]


async def test_statistics_of_an_empty_collection_are_zeros(ashop: AsyncShop) -> None:
    stats = await ashop.analytics.user_dashboard(fresh=True)

    assert stats.total == 0
    assert stats.by_status == dict.fromkeys(UserStatus, 0)
    assert stats.signups_this_month == 0
    assert stats.top_by_logins == []


async def test_statistics_count_by_status_with_zeros_for_absent_statuses(
    ashop: AsyncShop,
) -> None:
    await register(ashop, "Ada Lovelace", "ada@example.com")
    grace = await register(ashop, "Grace Hopper", "grace@example.com")
    await register(ashop, "Linus Torvalds", "linus@example.com")
    await ashop.users.suspend(str(grace.id))

    stats = await ashop.analytics.user_dashboard(fresh=True)

    assert stats.total == 3
    assert stats.by_status == {
        UserStatus.ACTIVE: 2,
        UserStatus.INACTIVE: 0,
        UserStatus.SUSPENDED: 1,
    }


async def test_signups_this_month_count_only_users_created_since_the_first_utc(
    ashop: AsyncShop,
) -> None:
    month_start = start_of_month(utcnow())
    await register(ashop, "Ada Lovelace", "ada@example.com")
    await ashop.repositories.users.insert_many_new(
        [
            user_document("At The Start", "start@old.test", created_at=month_start),
            user_document(
                "Last Moment",
                "last@old.test",
                created_at=month_start - timedelta(milliseconds=1),
            ),
            user_document(
                "Last Month", "month@old.test", created_at=month_start - timedelta(days=3)
            ),
            user_document(
                "Last Year", "year@old.test", created_at=month_start - timedelta(days=400)
            ),
        ]
    )

    stats = await ashop.analytics.user_dashboard(fresh=True)

    assert stats.total == 5
    assert stats.signups_this_month == 2


async def test_top_by_logins_lists_the_ten_most_active_users_in_order(
    ashop: AsyncShop,
) -> None:
    await ashop.repositories.users.insert_many_new(
        [
            user_document(f"Logger {n:02d}", f"logger{n:02d}@x.test", login_count=n)
            for n in range(12)
        ]
    )

    stats = await ashop.analytics.user_dashboard(fresh=True)

    assert [row.login_count for row in stats.top_by_logins] == list(range(11, 1, -1))
    assert [row.name for row in stats.top_by_logins][:2] == ["Logger 11", "Logger 10"]
    top = stats.top_by_logins[0]
    stored = await ashop.repositories.users.find_by_email("logger11@x.test")
    assert stored is not None
    assert (top.id, top.email) == (str(stored.id), "logger11@x.test")


async def test_top_by_logins_follows_real_logins(ashop: AsyncShop) -> None:
    await register(ashop, "Ada Lovelace", "ada@example.com")
    await register(ashop, "Grace Hopper", "grace@example.com")
    for _ in range(3):
        await ashop.auth.authenticate("grace@example.com", "password-1")
    await ashop.auth.authenticate("ada@example.com", "password-1")

    stats = await ashop.analytics.user_dashboard(fresh=True)

    assert [(row.name, row.login_count) for row in stats.top_by_logins] == [
        ("Grace Hopper", 3),
        ("Ada Lovelace", 1),
    ]
