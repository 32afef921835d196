"""The console tests drive headless Chromium (fixtures in tests/support/browser.py)."""

from tests.support.browser import browser  # noqa: F401
