# Relax speed (its own path), Bearer auth
curl -s "$OMNIRELAY_BASE_URL/mj-relax/mj/submit/imagine" \
  -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{"prompt": "slow clouds over a hill"}'
