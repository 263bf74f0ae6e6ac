"""The browser tests' warm pages (conftest.py, ``_PagePool``) start each test afresh."""

from __future__ import annotations

from typing import Any

from .conftest import _PagePool, _Pages


def test_a_reused_page_is_a_new_document_with_a_new_connection(
    page_pool: _PagePool, server_url: str
) -> None:
    first = _Pages(page_pool, server_url)
    page = first.open("", viewport={"width": 900, "height": 700})
    page.evaluate("window.__leftover = 1; document.title = 'changed'")
    page.evaluate("console.error('an error of the first test')")
    page.wait_for_function("true")
    first.pages.clear()  # as close(), but keep the error to check it was caught
    page_pool.give_back(page)
    assert first.errors == ["an error of the first test"]
    assert page.url == "about:blank"  # left the playground: its session is over

    second = _Pages(page_pool, server_url)
    again = second.open("#race", viewport={"width": 900, "height": 700})
    assert again is page  # the same warm page, reused
    assert again.evaluate("window.__leftover") is None
    assert again.title() != "changed"
    assert again.evaluate("window.__descentlab.connected") is True
    other = second.open("", viewport={"width": 900, "height": 700})
    assert other is not page  # a second page at once: another one
    other.evaluate("console.error('an error of the second test')")
    other.wait_for_function("true")
    assert first.errors == ["an error of the first test"]  # each test gets its own
    try:
        second.close()
    except AssertionError as err:
        assert "an error of the second test" in str(err)
    else:
        raise AssertionError("the second test's JavaScript error did not fail it")
    assert second.errors == ["an error of the second test"]


def test_pages_of_other_sizes_are_kept_apart(page_pool: _PagePool, server_url: str) -> None:
    pages = _Pages(page_pool, server_url)
    small: Any = pages.open("", viewport={"width": 400, "height": 700})
    large: Any = pages.open("", viewport={"width": 1300, "height": 700})
    assert small.evaluate("innerWidth") == 400 and large.evaluate("innerWidth") == 1300
    pages.close()
