"""Every file of the console ships in the package (pyproject's package-data), so a wheel serves
the same console as a checkout, offline."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "omnirelay"


def test_every_console_file_is_package_data() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["omnirelay"]
    files = [
        p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / "console").rglob("*") if p.is_file()
    ]
    missing = [
        f
        for f in files
        if not any(fnmatch.fnmatchcase(f, p) and f.count("/") == p.count("/") for p in patterns)
    ]
    assert files and not missing, missing


def test_the_console_loads_nothing_from_elsewhere() -> None:
    """No CDN, no inline script or style: what the Content-Security-Policy would refuse."""
    for path in (PACKAGE / "console").rglob("*"):
        if path.suffix not in {".html", ".js", ".css"} or "vendor" in path.parts:
            continue
        text = path.read_text()
        assert not re.search(r"""(src|href)=["']https?://""", text), path
        assert not re.search(r"import\s.*from\s+[\"']https?://", text), path
        if path.suffix == ".html":
            assert "<style" not in text and " style=" not in text and "onclick" not in text, path
            assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", text)), path
