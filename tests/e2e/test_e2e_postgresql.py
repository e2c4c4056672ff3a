"""The end-to-end tests of tests/e2e/test_e2e.py once more, with the catalog on PostgreSQL.

test_e2e.py runs them on SQLite (its byte-for-byte backfill test already runs on both). Here
the same test functions are collected again with a `make_site` whose sites point dogcli at a
fresh PostgreSQL database, so every e2e scenario where the catalog matters runs on both
backends without a second copy of the tests. The catalog-outage test (its own URLs) and the
unreachable-site test (no catalog work) are not repeated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e import test_e2e as e2e

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


@pytest.fixture
def make_site(make_site: Callable[..., Any], pg_url: str) -> Callable[..., Any]:
    def factory(*args: Any, database_url: str | None = None, **kwargs: Any) -> Any:
        return make_site(*args, database_url=database_url or pg_url, **kwargs)

    return factory


test_fetch_today_then_only_the_new_capture = e2e.test_fetch_today_then_only_the_new_capture
test_fetch_catches_up_from_the_newest_capture_at_most_max_days = (
    e2e.test_fetch_catches_up_from_the_newest_capture_at_most_max_days
)
test_fetch_limits_catch_up_and_says_what_it_skipped = (
    e2e.test_fetch_limits_catch_up_and_says_what_it_skipped
)
test_empty_day_is_not_an_error = e2e.test_empty_day_is_not_an_error
test_missing_file_is_downloaded_again_and_its_row_updated = (
    e2e.test_missing_file_is_downloaded_again_and_its_row_updated
)
test_stats_json_reports_what_was_stored = e2e.test_stats_json_reports_what_was_stored
