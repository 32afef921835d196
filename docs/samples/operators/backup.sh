# PostgreSQL: a consistent dump while the gateway runs, and its restore
pg_dump --format=custom --file=omnirelay-$(date +%F).dump "$OMNIRELAY_DATABASE_URL"
pg_restore --clean --dbname="$OMNIRELAY_DATABASE_URL" omnirelay-2026-12-01.dump

# SQLite: an online copy (safe while the gateway writes)
sqlite3 data/omnirelay.db ".backup data/omnirelay-$(date +%F).db"

# And keep the secret key with the backup: without it channel secrets cannot be read
cp data/secret.key /secure/place/omnirelay-secret.key
