curl -s "$OMNIRELAY_BASE_URL/v1/chat/completions" \
  -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Hello, relay!"}]
  }'
