# From a checkout of omnirelay (Python 3.11+):
make run       # installs into .venv, builds these docs, starts on http://127.0.0.1:8000 (SQLite in ./data/)
make demo      # the same with the built-in vendor sandbox: every endpoint works with no vendor key
make test      # the whole test suite (starts PostgreSQL, Redis, Chromium itself)
make docs      # rebuild this site (strict); omnirelay serves it at /docs/
