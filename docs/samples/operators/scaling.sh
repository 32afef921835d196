# On every node: the same database, the same Redis, the same secret key
export OMNIRELAY_DATABASE_URL=postgresql://omnirelay:secret@db.internal:5432/omnirelay
export OMNIRELAY_REDIS_URL=redis://redis.internal:6379/0
export OMNIRELAY_SECRET_KEY=$(cat /etc/omnirelay/secret.key)   # Fernet key, same on every node
export OMNIRELAY_ADMIN_KEY=$(cat /etc/omnirelay/admin.key)
export OMNIRELAY_PUBLIC_URL=https://ai.example.com
omnirelay serve --host 0.0.0.0 --port 8000 --workers 2
